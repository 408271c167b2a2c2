"""Where things live inside a run directory, and the format version.

    RUN/run.json                  side, mode, start/end time, format version, hash algorithm (run_dir.py)
    RUN/procs/<writer>.json       per process: host, Python, argv, cwd, library versions, env vars
    RUN/journal/<writer>.jsonl    one JSON line per completed stage call, appended after its payloads
    RUN/payloads/<writer>/<seq>-<k>.npy   tensor payloads, plain .npy (numpy alone reads them); a
                                  payload is written once per process and content, and referenced by
                                  every record of that content (journal "payload" paths may repeat)
    RUN/payloads/<writer>/pack.npys       payloads of at most PACK_MAX_BYTES, appended one .npy record
                                  after another (creating a file costs more than writing a small
                                  array); the journal names one as "<path>#<offset>": np.load reads
                                  it from an open file at that offset
    RUN/index.parquet             one row per tensor; built from the journals at the end of the run
                                  (or by `python -m bmtrace.store.index RUN`)
    RUN/.index_ahead/<writer>/    while a long run records: its journal's index, parsed ahead of stop()
                                  (index_ahead.py); a cache, removed once index.parquet is written

A record line is written only after all of its payloads are closed (a payload is referenced only once
complete), and with one write() call, so a SIGKILL at any moment leaves every completed record
readable; a torn last line is skipped on read. Records carry the content hash of each array and the
algorithm that made it ("hash_alg": xxh3-128 or sha1); readers check payloads against it.
"""
import glob
import json
import os

# 2: small payloads in packs ("<pack>#<offset>"). Version 1 runs are read alike.
FORMAT_VERSION = 2
RUN_FILE = "run.json"
PROCS_DIR = "procs"
JOURNAL_DIR = "journal"
PAYLOAD_DIR = "payloads"
INDEX_FILE = "index.parquet"
INDEX_AHEAD_DIR = ".index_ahead"  # index parts parsed while recording (index_ahead.py); removed with the build
PACK_FILE = "pack.npys"
PACK_MAX_BYTES = 64 << 10


def write_json_atomic(path, document):
    """Replace ``path`` with ``document`` so readers never see a half-written file."""
    tmp = "%s.tmp-%d" % (path, os.getpid())
    try:
        with open(tmp, "w") as f:
            json.dump(document, f, indent=1, sort_keys=True, default=str)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)  # a failed write (full disk, unsortable keys) leaves no *.tmp-* file behind


def read_json(path):
    with open(path) as f:
        return json.load(f)


# index.parquet metadata key holding the journals' fingerprint when it was built
INDEX_FINGERPRINT_KEY = b"bmtrace_fingerprint"


def journals_fingerprint(path):
    """Names and sizes of the journals of run ``path``: changes whenever a record is added."""
    parts = []
    for journal in sorted(glob.glob(os.path.join(path, JOURNAL_DIR, "*.jsonl"))):
        try:
            size = os.path.getsize(journal)
        except OSError:
            size = -1
        parts.append("%s:%d" % (os.path.basename(journal), size))
    return ";".join(parts)
