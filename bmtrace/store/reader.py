"""Read a run directory: samples, stages, calls and tensors, with arrays loaded only when asked."""
from __future__ import annotations

import glob
import json
import os
from collections import OrderedDict

import numpy as np

from ..errors import FormatVersionError, PayloadMissingError, RunNotFoundError
from . import layout

ANY_SAMPLE = object()  # calls(sample=ANY_SAMPLE): every sample, None included


def open_run(path):
    """Open a recorded run for reading.

    Raises:
        RunNotFoundError: ``path`` holds no run.json.
        FormatVersionError: the run was written by a newer bmtrace.

    Example:
        run = bmtrace.open_run("runs/port")
        for call in run.calls(stage="resize"):
            print(call.sample, call.outputs[0].load().shape)
    """
    run = Run(path)
    _refresh_index(run)
    return run


def _refresh_index(run):
    """Build index.parquet on first read when it is missing or older than a journal (pyarrow only)."""
    path = run.path
    index_path = os.path.join(path, layout.INDEX_FILE)
    journals = glob.glob(os.path.join(path, layout.JOURNAL_DIR, "*.jsonl"))
    try:
        index_time = os.path.getmtime(index_path)
        if all(os.path.getmtime(j) <= index_time for j in journals):
            return
    except OSError:
        pass
    if not journals or not os.access(path, os.W_OK):
        return
    try:
        from .index import build_index_if_possible

        build_index_if_possible(path, run)
    except Exception:
        pass  # the index is a convenience for other tools; reading works from the journals


class Run:
    """A recorded run; calls are parsed once from the journals, tensors load lazily."""

    def __init__(self, path):
        self.path = os.path.abspath(os.fspath(path))
        run_file = os.path.join(self.path, layout.RUN_FILE)
        if not os.path.isfile(run_file):
            hint = "it does not exist" if not os.path.exists(self.path) else "it has no %s" % layout.RUN_FILE
            raise RunNotFoundError("%s is not a bmtrace run (%s); record one with bmtrace.start(), "
                                   "`with bmtrace.run(...)` or `bmtrace record --out DIR -- python script.py`"
                                   % (self.path, hint))
        doc = layout.read_json(run_file)
        version = doc.get("format_version")
        if not isinstance(version, int) or version > layout.FORMAT_VERSION:
            raise FormatVersionError("run %s has format version %r but this bmtrace reads up to %d: upgrade "
                                     "bmtrace (pip install -U bmtrace)" % (self.path, version, layout.FORMAT_VERSION))
        self.side = doc.get("side")
        self.skipped_lines = 0
        self._doc = doc
        self._calls = None
        self._meta = None

    def __repr__(self):
        return "<bmtrace.Run %s side=%r>" % (self.path, self.side)

    # -- metadata -------------------------------------------------------------------------------------
    @property
    def meta(self):
        """Run document plus the first process's environment, and every process under "processes"."""
        if self._meta is None:
            procs = []
            for proc_file in sorted(glob.glob(os.path.join(self.path, layout.PROCS_DIR, "*.json"))):
                try:
                    procs.append(layout.read_json(proc_file))
                except (OSError, ValueError):
                    continue
            procs.sort(key=lambda p: p.get("opened") or 0.0)  # the first process to record describes the run
            meta = dict(self._doc)
            owner = procs[0] if procs else {}
            for key in ("host", "platform", "python", "executable", "argv", "cwd", "opencv_build", "env"):
                meta[key] = owner.get(key)
            versions = {}
            for proc in procs:
                for name, version in (proc.get("versions") or {}).items():
                    versions.setdefault(name, version)
            meta["versions"] = versions
            meta["processes"] = procs
            self._meta = meta
        return self._meta

    # -- calls ----------------------------------------------------------------------------------------
    def _load(self):
        if self._calls is not None:
            return self._calls
        raw = []
        for journal in sorted(glob.glob(os.path.join(self.path, layout.JOURNAL_DIR, "*.jsonl"))):
            with open(journal, "rb") as f:
                for line in f:
                    if not line.endswith(b"\n"):
                        self.skipped_lines += 1  # torn by a kill mid-write: the record never completed
                        continue
                    try:
                        raw.append(json.loads(line))
                    except ValueError:
                        self.skipped_lines += 1
        raw.sort(key=lambda r: (r["t_start"], r["writer"], r["seq"]))
        counters = {}
        calls = []
        for record in raw:
            key = (record.get("sample"), record["stage"])
            occurrence = counters.get(key, 0)
            counters[key] = occurrence + 1
            calls.append(Call(self, record, occurrence))
        self._calls = calls
        return calls

    def calls(self, sample=ANY_SAMPLE, stage=None):
        """Calls in recording order, optionally only of one sample (None is a valid key) and/or stage."""
        return [c for c in self._load()
                if (sample is ANY_SAMPLE or c.sample == sample) and (stage is None or c.stage == stage)]

    def samples(self):
        """Sample keys in first-seen order; None stands for records made outside any sample."""
        return list(OrderedDict.fromkeys(c.sample for c in self._load()))

    def stages(self):
        """Stage names in the order of their first call."""
        return list(OrderedDict.fromkeys(c.stage for c in self._load()))

    def tensors(self):
        """Every recorded tensor, inputs then outputs per call."""
        for call in self._load():
            for tensor in call.inputs + call.outputs:
                yield tensor

    def index(self):
        """The run as a pyarrow Table, one row per tensor (requires pyarrow)."""
        from .index import build_table

        return build_table(self)


class Call:
    """One completed stage call."""

    __slots__ = ("run", "id", "sample", "stage", "occurrence", "parent", "function", "error", "meta",
                 "mode", "pid", "thread", "t_start", "t_end", "inputs", "outputs", "writer", "seq")

    def __init__(self, run, record, occurrence):
        self.run = run
        self.id = record["id"]
        self.sample = record.get("sample")
        self.stage = record["stage"]
        self.occurrence = occurrence
        self.parent = record.get("parent")
        self.function = record.get("function")
        self.error = record.get("error")
        self.meta = record.get("meta") or {}
        self.mode = record.get("mode", "full")
        self.pid = record.get("pid")
        self.thread = record.get("thread")
        self.t_start, self.t_end = record.get("t_start"), record.get("t_end")
        self.writer, self.seq = record.get("writer"), record.get("seq")
        self.inputs = [Tensor(self, e) for e in record.get("inputs", ())]
        self.outputs = [Tensor(self, e) for e in record.get("outputs", ())]

    def __repr__(self):
        return "<Call %s sample=%r #%d%s>" % (self.stage, self.sample, self.occurrence, " error" if self.error else "")

    def input(self, name):
        return _by_name(self.inputs, name, self, "input")

    def output(self, name="out"):
        return _by_name(self.outputs, name, self, "output")


class Tensor:
    """One recorded leaf value; ``load()`` reads its payload from disk."""

    __slots__ = ("call", "name", "role", "kind", "dtype", "shape", "min", "max", "mean", "std", "nan_count",
                 "inf_count", "hash", "meta", "note", "payload", "value", "path", "container", "py_type", "sketch")

    def __init__(self, call, entry):
        self.call = call
        self.name, self.role, self.kind = entry["name"], entry.get("role"), entry.get("kind", "array")
        self.dtype = entry.get("dtype")
        self.shape = tuple(entry["shape"]) if entry.get("shape") is not None else None
        for key in ("min", "max", "mean", "std"):
            setattr(self, key, entry.get(key))
        self.nan_count, self.inf_count = entry.get("nan_count", 0), entry.get("inf_count", 0)
        self.hash, self.meta, self.note = entry.get("hash"), entry.get("meta") or {}, entry.get("note")
        self.payload, self.value = entry.get("payload"), entry.get("value")
        self.path = [tuple(step) for step in entry.get("path") or ()]  # containers down to this leaf
        self.container, self.py_type = entry.get("container"), entry.get("py_type")
        self.sketch = entry.get("sketch")  # stats mode: sampled values (bmtrace.codecs.sketch)

    def __repr__(self):
        return "<Tensor %s %s %s %s>" % (self.name, self.kind, self.dtype, self.shape)

    @property
    def has_payload(self):
        return self.payload is not None or self.kind == "scalar"

    @property
    def is_array(self):
        return self.kind in ("array", "bytes", "scalar")

    def load(self):
        """The tensor as a numpy array, read from its .npy payload."""
        if self.payload is not None:
            return load_npy(os.path.join(self.call.run.path, self.payload), self.dtype, self.shape)
        if self.kind == "scalar":
            return np.asarray(self.value, dtype=self.dtype)
        raise PayloadMissingError(
            "tensor %r (%s of stage %r, sample %r) in run %s has no payload (%s); re-record that stage in "
            "full mode to compare its values" % (self.name, self.role, self.call.stage, self.call.sample,
                                                  self.call.run.path, self.note or "recorded in %s mode" % self.call.mode))


_NPY_MAGIC = b"\x93NUMPY"


def load_npy(path, dtype=None, shape=None):
    """np.load, minus its header parse (ast.literal_eval, ~0.25 ms a file) when the journal already
    knows dtype and shape; any file that does not match that expectation goes through np.load."""
    try:
        expected = np.dtype(dtype) if dtype and shape is not None else None
    except TypeError:
        expected = None
    if expected is None or expected.hasobject or expected.names is not None:
        return np.load(path, allow_pickle=False)
    with open(path, "rb") as f:
        buffer = bytearray(os.fstat(f.fileno()).st_size)  # bytearray: the loaded array stays writable
        f.readinto(buffer)
    if buffer[:6] != _NPY_MAGIC:
        return np.load(path, allow_pickle=False)
    major = buffer[6]
    size_bytes = 2 if major == 1 else 4
    header_len = int.from_bytes(bytes(buffer[8:8 + size_bytes]), "little")
    offset = 8 + size_bytes + header_len
    header = bytes(buffer[8 + size_bytes:offset])
    count = int(np.prod(shape, dtype=np.int64))
    if (b"'fortran_order': False" not in header or ("'%s'" % expected.str).encode() not in header
            or len(buffer) - offset != count * expected.itemsize):
        return np.load(path, allow_pickle=False)
    return np.frombuffer(buffer, dtype=expected, count=count, offset=offset).reshape(shape)


def _by_name(tensors, name, call, role):
    for tensor in tensors:
        if tensor.name == name:
            return tensor
    raise KeyError("%s %r not recorded for stage %r sample %r; recorded: %s"
                   % (role, name, call.stage, call.sample, ", ".join(t.name for t in tensors) or "none"))
