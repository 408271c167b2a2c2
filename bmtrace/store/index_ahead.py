"""The index of a long run, parsed while it records, so that stop() is left with the journal's tail.

Building index.parquet at stop() spends most of its time parsing the journal with pyarrow's JSON reader
(about 6 s for 100k samples here, longer than the rest of the build). A journal is append-only and its
complete lines never change, so once the journal of the process that started the run passes
``START_BYTES``, a child process follows it: it parses each ``PART_BYTES`` of new complete lines into the
index build's chunk tables and writes them to RUN/.index_ahead/<writer>/ as Arrow IPC files, listed in
a manifest. At stop(), the build reads those parts back and parses only what follows them.

A child process rather than a thread: it runs on another core without taking the recording's GIL,
pyarrow and its memory stay out of the user's process, and a fork of the user's process never copies a
busy thread. stop() kills it; should the recording process die first, the child sees its stdin close
(or, when forks of that process keep the pipe open, its parent change) and exits.

Recording path: stdlib only. The child (``journal_follower``) and ``prefix`` need pyarrow: the child
starts only where pyarrow is importable. The parts are a cache, never part of the run: anything wrong
with them (a dead child, a missing or foreign file, a journal that is not the one followed) and the
build parses the whole journal, as it does without them. build_index removes them once the index is
written. BMTRACE_INDEX_AHEAD=0 turns this off.
"""
from __future__ import annotations

import importlib.util
import json
import os
import shutil
import sys

from . import layout

START_BYTES = 16 << 20   # a journal shorter than this is parsed at stop() in a fraction of a second
PART_BYTES = 4 << 20     # journal text per part: the child's memory is about 15x this
POLL_SECONDS = 0.5       # how often the child looks for new lines
MANIFEST = "manifest.jsonl"  # one JSON line per part, written once its files are complete


def follow(run_path, token, journal_path, journal_id):
    """Start a child process that parses the journal ``journal_path`` of writer ``token`` as it grows.

    Returns:
        A ``Follower``, or None when it cannot help: BMTRACE_INDEX_AHEAD=0, pyarrow not importable, or
        the child could not be started.
    """
    if (os.environ.get("BMTRACE_INDEX_AHEAD", "") == "0" or not sys.executable
            or importlib.util.find_spec("pyarrow") is None):
        return None
    import subprocess  # here, not at the top: every traced program imports this module, few runs get this far

    folder = os.path.join(run_path, layout.INDEX_AHEAD_DIR, token)
    env = {key: value for key, value in os.environ.items() if not key.startswith("BMTRACE_")}  # records nothing
    package_root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env["PYTHONPATH"] = os.pathsep.join([package_root] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
    try:
        os.makedirs(folder, exist_ok=True)
        process = subprocess.Popen([sys.executable, "-m", "bmtrace.store.journal_follower", journal_path, folder,
                                    str(PART_BYTES), str(POLL_SECONDS)],
                                   stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                   env=env, close_fds=True)
    except OSError:
        shutil.rmtree(folder, ignore_errors=True)
        return None
    return Follower(process, journal_path, journal_id, folder)


class Follower:
    """The recording process's handle on its journal's child parser."""

    def __init__(self, process, journal, journal_id, folder):
        self.process = process
        self.journal = journal
        self.journal_id = journal_id  # (device, inode) of the journal followed
        self.folder = folder

    def finish(self):
        """Stop the child at once. Every part it listed is whole (files first, then the manifest line), so
        killing it loses only the part in progress, which the build parses: less than waiting for a child
        that runs on idle CPU only."""
        process = self.process
        if process.poll() is None:
            process.kill()
        process.wait()
        if process.stdin is not None:
            process.stdin.close()

    def prefix(self, journal):
        """``(chunks, (offset, line number), problems)`` parsed by the child from the start of ``journal``:
        chunks as ``journal_columns.next_chunk`` gives them, problems as ``(line, message)``; None when
        ``journal`` is not the one followed or the parts cannot be vouched for."""
        if os.path.realpath(journal) != os.path.realpath(self.journal):
            return None
        self.finish()
        try:
            return self._read_parts()
        except Exception:  # a cache that fails is a cache not used: the journal is parsed instead
            return None

    def _read_parts(self):
        from .journal_columns import chunk_schemas

        import pyarrow as pa

        info = os.stat(self.journal)
        if (info.st_dev, info.st_ino) != self.journal_id:
            return None
        entries = _manifest(os.path.join(self.folder, MANIFEST))
        calls_schema, tensors_schema = chunk_schemas()
        chunks, problems, offset, line = [], [], 0, 1
        for entry in entries:
            if (entry["start"], entry["first_line"]) != (offset, line) or not offset < entry["end"] <= info.st_size:
                return None  # parts follow each other from the journal's first byte
            tables = [_read_table(pa, os.path.join(self.folder, entry[key])) for key in ("calls", "tensors")]
            if not (tables[0].schema.equals(calls_schema) and tables[1].schema.equals(tensors_schema)):
                return None
            chunks.append(tuple(tables))
            problems.extend((int(number), str(message)) for number, message in entry["problems"])
            offset, line = entry["end"], entry["next_line"]
        return chunks, (offset, line), problems

    def discard(self):
        """Stop the child and remove its parts."""
        self.finish()
        shutil.rmtree(self.folder, ignore_errors=True)


def remove_parts(run_path):
    """Remove every follower's parts from run ``run_path`` (those of killed recordings too)."""
    shutil.rmtree(os.path.join(run_path, layout.INDEX_AHEAD_DIR), ignore_errors=True)


def _manifest(path):
    entries = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            if not line.endswith("\n"):
                break  # being written when the child was killed
            entry = json.loads(line)
            for key in ("calls", "tensors"):
                if os.path.basename(entry[key]) != entry[key]:
                    raise ValueError("a part outside the folder: %r" % entry[key])
            entries.append(entry)
    return entries


def _read_table(pa, path):
    with pa.memory_map(path) as source:
        return pa.ipc.open_file(source).read_all()
