"""`bmtrace pack RUN -o run.tar`: one file that carries a run from a device to a PC, with checksums.

The archive holds ``<run name>/...`` (every file of the run) and, last, ``bmtrace-manifest.json``
with the sha256 and size of each file. `bmtrace unpack` checks every member against it. Standard
library only (tarfile, hashlib), so it runs on a SOPHON device with Python 3.8 and numpy alone.
"""
from __future__ import annotations

import hashlib
import json
import os
import sys
import tarfile
import time

from ..errors import PackError
from ..store import layout

NAME = "pack"
HELP = "pack a run directory into one .tar (or .tar.gz) file with a sha256 manifest, to move it between machines"
MANIFEST = "bmtrace-manifest.json"
PACK_FORMAT = 1


def add_arguments(parser):
    parser.add_argument("run", help="run directory to pack")
    parser.add_argument("-o", "--output", metavar="FILE",
                        help="archive to write (default: RUN_NAME.tar; .tar.gz/.tgz compresses)")
    parser.add_argument("--overwrite", action="store_true", help="replace FILE if it exists")
    parser.epilog = ("example (on the device):  bmtrace pack runs/port -o port.tar\n"
                     "then (on the PC):         bmtrace unpack port.tar -C runs/")


def run(args):
    output = args.output or os.path.basename(os.path.abspath(args.run)) + ".tar"
    manifest = pack_run(args.run, output, overwrite=args.overwrite)
    total = sum(entry["size"] for entry in manifest["files"].values())
    print("packed %s: %d files, %.1f MiB -> %s" % (args.run, len(manifest["files"]), total / 2.0 ** 20, output))
    return 0


class _HashingReader:
    """A file object that hashes exactly the bytes tarfile copies into the archive."""

    def __init__(self, f):
        self.f = f
        self.sha = hashlib.sha256()
        self.size = 0

    def read(self, n=-1):
        data = self.f.read(n)
        self.sha.update(data)
        self.size += len(data)
        return data


def _mode_for(path):
    return "w:gz" if path.endswith((".tar.gz", ".tgz")) else "w"


def pack_run(run_dir, output, overwrite=False):
    """Write ``run_dir`` into the archive ``output``; returns the manifest written into it."""
    run_dir = os.path.abspath(run_dir)
    if not os.path.isfile(os.path.join(run_dir, "run.json")):
        raise PackError("%s is not a bmtrace run (no run.json); nothing to pack" % run_dir)
    if os.path.exists(output) and not overwrite:
        raise PackError("%s already exists; pass --overwrite to replace it" % output)
    name = os.path.basename(run_dir)
    output_real = os.path.realpath(output)
    files = {}
    partial = output + ".partial"
    try:
        with tarfile.open(partial, _mode_for(output), format=tarfile.PAX_FORMAT) as tar:
            for folder, dirs, names in os.walk(run_dir):
                dirs[:] = sorted(d for d in dirs if d != layout.INDEX_AHEAD_DIR)  # a cache of a recording
                for file_name in sorted(names):
                    path = os.path.join(folder, file_name)
                    if os.path.islink(path) or not os.path.isfile(path) or os.path.realpath(path) == output_real:
                        continue  # only the run's own regular files travel
                    rel = os.path.relpath(path, run_dir).replace(os.sep, "/")
                    if ".tmp" in file_name:
                        continue  # a half-written file from an interrupted atomic replace
                    files[rel] = _add_file(tar, path, name + "/" + rel)
            doc = {"format": PACK_FORMAT, "run": name, "created": time.time(), "files": files}
            _add_bytes(tar, MANIFEST, (json.dumps(doc, indent=1, sort_keys=True) + "\n").encode("utf-8"))
        os.replace(partial, output)
    except BaseException:
        if os.path.exists(partial):
            os.unlink(partial)
        raise
    _warn_if_open(run_dir)
    return doc


def _add_file(tar, path, arcname):
    info = tar.gettarinfo(path, arcname)
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    with open(path, "rb") as f:
        reader = _HashingReader(f)
        tar.addfile(info, reader)
    return {"sha256": reader.sha.hexdigest(), "size": reader.size}


def _add_bytes(tar, arcname, data):
    import io

    info = tarfile.TarInfo(arcname)
    info.size = len(data)
    info.mtime = int(time.time())
    info.mode = 0o644
    tar.addfile(info, io.BytesIO(data))


def _warn_if_open(run_dir):
    try:
        with open(os.path.join(run_dir, "run.json"), encoding="utf-8") as f:
            doc = json.load(f)
    except (OSError, ValueError):
        return
    if isinstance(doc, dict) and not doc.get("ended"):
        print("bmtrace pack: note: %s was not stopped (still recording, or the program was killed); the archive "
              "holds the records completed so far" % run_dir, file=sys.stderr)
