"""The one owner of RUN/run.json: create, append, join, stamp the end, validate, format version.

run.json is written by bmtrace but read back as untrusted data: ``read`` checks every field and
raises an error naming the file and how to fix it. Stdlib only (the recording path).
"""
from __future__ import annotations

import json
import os
import shutil
import time

from ..errors import CorruptRunError, FormatVersionError, RunExistsError, RunNotFoundError, StoreError
from . import hashing, layout
from .schema import MODES

_HOW_TO_RECORD = ("record one with bmtrace.start(), `with bmtrace.run(...)` or "
                  "`bmtrace record --out DIR -- python script.py`")


def document(path, side, mode, started, stage_modes=None, payload_cap_bytes=None):
    """A new run.json document."""
    return {
        "format_version": layout.FORMAT_VERSION,
        "tool": "bmtrace",
        "side": side,
        "mode": mode,
        "stage_modes": stage_modes or {},
        "payload_cap_bytes": payload_cap_bytes,
        "started": started,
        "ended": None,
        "path": os.path.abspath(path),
        "hash_alg": hashing.algorithm(),
    }


def run_file(path):
    return os.path.join(path, layout.RUN_FILE)


# -- reading and validating ------------------------------------------------------------------------
def read(path):
    """The validated run.json of run directory ``path``.

    Raises:
        RunNotFoundError: ``path`` holds no run.json.
        CorruptRunError: run.json is not a valid run document (names the field and how to fix it).
        FormatVersionError: the run was written by a newer bmtrace.
    """
    path = os.path.abspath(os.fspath(path))
    file = run_file(path)
    if not os.path.isfile(file):
        if os.path.exists(file):
            reason = "its %s is not a file" % layout.RUN_FILE
        else:
            reason = "it does not exist" if not os.path.exists(path) else "it has no %s" % layout.RUN_FILE
        raise RunNotFoundError("%s is not a bmtrace run (%s); %s" % (path, reason, _HOW_TO_RECORD))
    try:
        with open(file, "rb") as f:
            raw = f.read()
    except OSError as exc:
        raise RunNotFoundError("cannot read %s (%s); check its permissions" % (file, exc.strerror or exc)) from None
    doc = parse(raw, file)
    check_version(doc, path, writing=False)
    return doc


def parse(raw, file):
    """Validate the bytes of a run.json; returns the document with every known field typed."""
    def bad(reason):
        return CorruptRunError("%s is not a valid bmtrace run file: %s. It was damaged or written by another "
                               "tool; restore it from a copy or re-record the run" % (file, reason))

    if not raw.strip():
        raise bad("it is empty")
    try:
        doc = json.loads(raw)
    except ValueError as exc:
        raise bad("not valid JSON (%s)" % exc) from None
    if not isinstance(doc, dict):
        raise bad("it must hold a JSON object, got a %s" % type(doc).__name__)
    version = doc.get("format_version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise bad("format_version must be a positive integer, got %r" % (version,))
    side = doc.get("side")
    if side is not None and not isinstance(side, str):
        if isinstance(side, (int, float)) and not isinstance(side, bool):
            doc["side"] = str(side)
        else:
            raise bad("side must be a string, got %s" % type(side).__name__)
    for field, accepts, expected in (
            ("mode", lambda v: v in MODES, "one of %s" % ", ".join(MODES)),
            ("stage_modes", lambda v: isinstance(v, dict) and all(m in MODES for m in v.values()),
             "an object of stage -> mode"),
            ("payload_cap_bytes", lambda v: isinstance(v, int) and not isinstance(v, bool), "an integer"),
            ("started", _is_number, "a number"), ("ended", _is_number, "a number"),
            ("path", lambda v: isinstance(v, str), "a string"), ("tool", lambda v: isinstance(v, str), "a string"),
            ("hash_alg", lambda v: isinstance(v, str), "a string")):
        value = doc.get(field)
        if value is not None and not accepts(value):
            raise bad("%s must be %s, got %r" % (field, expected, value))
    doc["stage_modes"] = doc.get("stage_modes") or {}
    return doc


def check_version(doc, path, writing):
    version = doc.get("format_version")
    if version > layout.FORMAT_VERSION:
        if writing:
            raise FormatVersionError("run %s has format version %s; this bmtrace writes version %d: upgrade "
                                     "bmtrace to add to it" % (path, version, layout.FORMAT_VERSION))
        raise FormatVersionError("run %s has format version %r but this bmtrace reads up to %d: upgrade "
                                 "bmtrace (pip install -U bmtrace)" % (path, version, layout.FORMAT_VERSION))


def _is_number(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool)


# -- creating, appending, joining ------------------------------------------------------------------
def prepare(path, overwrite, append):
    """Check (and create) the run directory; returns the existing run document when appending."""
    if os.path.isdir(path) and os.listdir(path):
        is_run = os.path.isfile(run_file(path))
        if append:
            if not is_run:
                raise RunExistsError("cannot append to %s: it is not a bmtrace run (no %s)" % (path, layout.RUN_FILE))
            return join(path)
        if not overwrite:
            raise RunExistsError("run directory %s is not empty; pass overwrite=True (CLI: --overwrite) to "
                                 "replace it, append=True to add to it, or choose another path" % path)
        if not is_run:
            raise RunExistsError("refusing to overwrite %s: it is not empty and not a bmtrace run; "
                                 "choose an empty or new directory" % path)
        shutil.rmtree(path)
    elif os.path.exists(path) and not os.path.isdir(path):
        raise RunExistsError("run path %s exists and is a file; choose a directory path" % path)
    os.makedirs(path, exist_ok=True)
    return None


def write_new(path, side, mode, stage_modes=None, payload_cap_bytes=None):
    """Write the run.json of a new run."""
    doc = document(path, side, mode, time.time(), stage_modes=stage_modes, payload_cap_bytes=payload_cap_bytes)
    layout.write_json_atomic(run_file(path), doc)
    return doc


def create(path, side=None, mode="full", overwrite=False, stage_modes=None, payload_cap_bytes=None):
    """Create an empty run directory for processes to record into; returns its absolute path.

    Raises:
        RunExistsError: the directory is not empty (and not to be overwritten) or is a file.
        StoreError: the directory or its run.json cannot be written (read-only, full disk).
    """
    path = os.path.abspath(os.fspath(path))
    try:
        prepare(path, overwrite, append=False)
        write_new(path, side, mode, stage_modes, payload_cap_bytes)
    except OSError as exc:
        raise StoreError("cannot create run directory %s (%s: %s); choose a writable path with free space"
                         % (path, type(exc).__name__, exc.strerror or exc)) from exc
    return path


def join(path):
    """The run document of an existing run that this process will add records to."""
    doc = read(path)
    check_version(doc, path, writing=True)
    if doc["format_version"] < layout.FORMAT_VERSION:  # its new records may use what older readers lack
        doc["format_version"] = layout.FORMAT_VERSION
        layout.write_json_atomic(run_file(path), doc)
    return doc


# -- the end of a run ------------------------------------------------------------------------------
def stamp_end(path):
    """Record the end time in run.json (raises OSError or a run error when that fails)."""
    doc = read(path)
    doc["ended"] = time.time()
    layout.write_json_atomic(run_file(path), doc)
