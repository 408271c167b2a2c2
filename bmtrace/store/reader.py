"""Read a run directory: samples, stages, calls and tensors, with arrays loaded only when asked.

A run is untrusted data. run.json and every journal line are validated (``run_dir.parse``,
``schema.parse_call``); a bad line is skipped and listed in ``Run.problems`` with its file and line,
payload paths must stay inside the run, and payloads are checked against their content hash on load.
Reading never writes: the Parquet index is built by ``bmtrace.store.index.build_index``.
"""
from __future__ import annotations

import functools
import glob
import os
import threading
import weakref
from collections import OrderedDict, deque

import numpy as np

from ..errors import PayloadCorruptError, PayloadMissingError, PayloadPathError
from . import hashing, indexed_calls, layout, run_dir, schema  # (indexed_calls: numpy only, no pyarrow)
from .hashing import same_content  # noqa: F401  (re-exported: how diffs compare two records' hashes)

ANY_SAMPLE = object()  # calls(sample=ANY_SAMPLE): every sample, None included

# SHA-1 payloads up to this size are verified on load (about 2 ms); xxh3 payloads always are.
VERIFY_SLOW_HASH_BYTES = 4 << 20


def open_run(path):
    """Open a recorded run for reading; nothing is written.

    Raises:
        RunNotFoundError: ``path`` holds no run.json.
        CorruptRunError: run.json is damaged or not a bmtrace run file.
        FormatVersionError: the run was written by a newer bmtrace.

    Example:
        run = bmtrace.open_run("runs/port")
        for call in run.calls(stage="resize"):
            print(call.sample, call.outputs[0].load().shape)
    """
    return Run(path)


class RunProblem:
    """A journal line (or file) that could not be read, with where it is."""

    __slots__ = ("file", "line", "message")

    def __init__(self, file, line, message):
        self.file, self.line, self.message = file, line, message

    def __str__(self):
        where = self.file if self.line is None else "%s line %d" % (self.file, self.line)
        return "%s: %s" % (where, self.message)

    __repr__ = __str__


class Run:
    """A recorded run; calls are parsed once from the journals, tensors load lazily.

    ``problems`` lists the journal lines skipped because they are not valid records (file and line);
    ``torn_lines`` counts records cut short by a kill during their write (only a file's last line).

    ``lazy=True`` (needs pyarrow; without it the run reads as usual) keeps only each call's sample,
    stage and occurrence and where its line is: its other fields and tensors are parsed when first
    used and forgotten once ``LAZY_CACHE_CALLS`` others have been, so a pass over a long run (a diff)
    holds a bounded number of parsed records.
    """

    def __init__(self, path, lazy=False):
        self.path = os.path.abspath(os.fspath(path))
        doc = run_dir.read(self.path)
        self.side = doc.get("side")
        self.hash_alg = doc.get("hash_alg") or schema.LEGACY_HASH_ALG
        self._torn = 0
        self._problems = []
        self._doc = doc
        self._calls = None
        self._meta = None
        self._real_path = None
        self._lazy = lazy
        self._parsed = None
        self._journals = None
        self._journal_names = None  # their run-relative names (Call.location)
        self._lock = threading.Lock()  # lazy calls are parsed from the diff's prefetch threads too
        self._files = {}  # journal number -> its file, open while lazy calls are read from it
        self._blocks = {}  # journal number -> (offset, bytes) last read from it
        self._call_codes = None  # indexed_calls.CallCodes of the calls, when served from the index

    def __repr__(self):
        return "<bmtrace.Run %s side=%r>" % (self.path, self.side)

    @property
    def problems(self):
        """Skipped journal lines and unreadable journals (``RunProblem``: file, line, message)."""
        self._load()
        return list(self._problems)

    @property
    def torn_lines(self):
        """Records cut short by a kill during their write (a journal's last line without newline)."""
        self._load()
        return self._torn

    @property
    def skipped_lines(self):
        """Journal lines skipped for any reason: torn last lines plus invalid lines."""
        self._load()
        return self._torn + sum(1 for p in self._problems if p.line is not None)

    # -- metadata -------------------------------------------------------------------------------------
    @property
    def meta(self):
        """Run document plus the first process's environment, and every process under "processes"."""
        if self._meta is None:
            procs = []
            for proc_file in sorted(glob.glob(os.path.join(self.path, layout.PROCS_DIR, "*.json"))):
                try:
                    proc = layout.read_json(proc_file)
                except (OSError, ValueError):
                    continue  # a process killed while writing it; its records are still in the journal
                if isinstance(proc, dict):
                    procs.append(_checked_process(proc))
            # the first process to record describes the run
            procs.sort(key=lambda p: p["opened"] or 0.0)
            meta = dict(self._doc)
            owner = procs[0] if procs else {}
            for key in ("host", "platform", "python", "executable", "argv", "cwd", "opencv_build", "env"):
                meta[key] = owner.get(key)
            versions = {}
            for proc in procs:
                for name, version in (proc["versions"] or {}).items():
                    versions.setdefault(name, version)
            meta["versions"] = versions
            meta["processes"] = procs
            self._meta = meta
        return self._meta

    # -- calls ----------------------------------------------------------------------------------------
    def _load(self):
        if self._calls is not None:
            return self._calls
        if self._lazy and self._load_lazy() is not None:
            return self._calls
        records = []
        for journal in sorted(glob.glob(os.path.join(self.path, layout.JOURNAL_DIR, "*.jsonl"))):
            records.extend(self._read_journal(journal))
        records.sort(key=_sort_key_of_located)
        counters = {}
        calls = []
        for record, location in records:
            key = (record["sample"], record["stage"])
            occurrence = counters.get(key, 0)
            counters[key] = occurrence + 1
            calls.append(Call(self, record, occurrence, location))
        self._calls = calls
        return calls

    def _load_lazy(self):
        try:
            from . import journal_columns
        except ImportError:  # no pyarrow: read as usual
            return None
        try:
            columns, problems, torn, journals = journal_columns.call_skeleton(self.path)
        except (ValueError, TypeError, OverflowError, ArithmeticError, NotImplementedError):
            return None  # a journal the columnar reader did not foresee: read as usual
        keys = {}  # one string object per sample key, whatever the number of its calls
        calls = []
        for sample, stage, occurrence, journal, offset, length in zip(
                columns["sample"], columns["stage"], columns["occurrence"], columns["journal"], columns["offset"],
                columns["length"]):
            calls.append(LazyCall(self, keys.setdefault(sample, sample), keys.setdefault(stage, stage), occurrence,
                                  journal, offset, length))
        if any(key is not None and schema.ESCAPE_MARK in key for key in keys):
            return None  # text the columnar reader could only escape (lone surrogates): the lines hold it
        self._problems = [RunProblem(*problem) for problem in problems]
        self._torn = torn
        self._journals = journals
        self._journal_names = [_relative(self.path, journal) for journal in journals]
        self._parsed = deque()  # LazyCalls holding their parsed Call, oldest first
        self._calls = calls
        return calls

    def _parsed_call(self, lazy):
        """The full ``Call`` of a ``LazyCall``, parsed from its journal line; the most recently parsed
        ``LAZY_CACHE_CALLS`` stay attached to their ``LazyCall``, older ones are dropped."""
        call = lazy._call
        if call is not None:
            return call
        try:
            record = schema.parse_call(self._decoded_line(lazy))
            if isinstance(lazy, IndexedCall):
                _check_call_id(lazy, record["id"])
        except schema.RecordError as exc:
            if isinstance(lazy, IndexedCall):
                raise self._index_mismatch(lazy, exc) from None
            from ..errors import CorruptRunError

            raise CorruptRunError("run %s: %s changed while it was read (%s); open the run again"
                                  % (self.path, self._journals[lazy._journal], exc)) from None
        call = Call(self, record, lazy.occurrence, (self._journal_names[lazy._journal], lazy._offset))
        # Its tensors refer to the lazy call, which answers for their call: without a reference cycle, a
        # call the window drops is freed at once, not left to the cyclic collector (which took a fifth of
        # a 100k-sample diff, and which a diff keeps from what it freezes: bmtrace.diff.collector).
        for tensor in call.inputs:
            tensor.call = lazy
        for tensor in call.outputs:
            tensor.call = lazy
        with self._lock:
            if lazy._call is not None:  # parsed meanwhile by the other thread: one Call per record
                return lazy._call
            lazy._call = call
            self._remember(lazy)
        return call

    def _parsed_entry(self, lazy, role, position):
        """One tensor of an ``IndexedCall`` (``role`` "input"/"output", its ``position`` there), None when
        its line has no such entry. Only that entry is validated, and no ``Call`` is built: a diff judging
        the one output that differs reads nothing else of the line. A call parsed whole already answers."""
        call = lazy._call
        if call is not None:
            tensors = call.inputs if role == "input" else call.outputs
            return tensors[position] if position < len(tensors) else None
        entry = self._part_of_line(lazy, lambda obj: schema.parse_entry(obj, role, position))
        return Tensor(lazy, entry) if entry is not None else None

    def _parsed_meta(self, lazy):
        """The call-level meta of an ``IndexedCall``; like ``_parsed_entry``, only that field is validated."""
        call = lazy._call
        return call.meta if call is not None else self._part_of_line(lazy, schema.parse_call_meta)

    def _part_of_line(self, lazy, parse):
        """``parse(decoded line)`` of an ``IndexedCall``, its id checked against the index's."""
        try:
            obj = self._decoded_line(lazy)
            part = parse(obj)
            _check_call_id(lazy, obj.get("id"))
        except schema.RecordError as exc:
            raise self._index_mismatch(lazy, exc) from None
        return part

    def _decoded_line(self, lazy):
        """The JSON object of a lazy call's journal line, not yet validated.

        Raises:
            RecordError: the line is cut short or not JSON.
        """
        line = self._journal_line(lazy._journal, lazy._offset, lazy._length)
        if not line.endswith(b"\n"):
            raise schema.RecordError("the line is cut short")
        return schema.decode_line(line)

    def _index_mismatch(self, lazy, exc):
        from ..errors import CorruptRunError

        return CorruptRunError("run %s: its index.parquet does not match %s (%s); delete the index (python -m "
                               "bmtrace.store.index RUN builds it again) and retry"
                               % (self.path, self._journals[lazy._journal], exc))

    def _journal_line(self, number, offset, length):
        """The bytes of a journal line (``length`` None: up to its newline), from a kept open file.

        Lines are asked for in about the order they were written: each read takes a block, and the
        next lines come from it (one read for some hundred lines, instead of a seek and a read each)."""
        with self._lock:
            block = self._blocks.get(number)
            if block is not None:
                line = _line_in(block, offset, length)
                if line is not None:
                    return line
            f = self._files.get(number)
            if f is None:
                f = self._files[number] = open(self._journals[number], "rb")
                weakref.finalize(self, f.close)  # closed with the run
            f.seek(offset)
            block = self._blocks[number] = (offset, f.read(JOURNAL_BLOCK))
            line = _line_in(block, offset, length)
            if line is not None:
                return line
            f.seek(offset)  # a line longer than the block, or one the block cuts (still being written)
            return f.read(length) if length is not None else f.readline()

    def _remember(self, lazy):
        """Keep what ``lazy`` has parsed or built while it is among the ``LAZY_CACHE_CALLS`` most recent
        (call under ``self._lock``)."""
        self._parsed.append(lazy)
        while len(self._parsed) > LAZY_CACHE_CALLS:
            self._parsed.popleft()._forget()

    def after_fork(self):
        """In a forked child (``bmtrace.diff.workers``): open journals anew rather than read through the
        parent's files, whose read offsets the two processes would share."""
        self._files = {}
        self._blocks = {}
        self._lock = threading.Lock()

    def attach_index(self, table, summary):
        """Serve a lazy run's calls from its fresh index (``store.index.read_fresh`` of
        ``indexed_calls.COLUMNS``) instead of locating them in the journals; True when it could.

        Call it before anything reads the calls. The index must be the journals' as they are now
        (``read_fresh`` checks); an index it cannot vouch for is ignored.
        """
        if not self._lazy or self._calls is not None:
            return False
        journals = sorted(glob.glob(os.path.join(self.path, layout.JOURNAL_DIR, "*.jsonl")))
        names = [_relative(self.path, journal) for journal in journals]

        try:
            codes = indexed_calls.indexed_calls(table, summary, names)
            if codes is None:
                return False
            calls = codes.make_calls(functools.partial(IndexedCall, self))
        except (ValueError, TypeError, KeyError, AttributeError, IndexError):  # a foreign or damaged index
            return False
        self._journals, self._journal_names = journals, names
        self._parsed = deque()
        self._calls, self._call_codes = calls, codes
        return True

    def call_codes(self):
        """The calls' samples, stages and occurrences as arrays (``indexed_calls.CallCodes``, calls in
        ``calls()`` order) when they are served from the index, else None."""
        self._load()
        return self._call_codes

    def _read_journal(self, journal):
        """``(record, (journal, offset))`` of each valid line of ``journal``."""
        name = os.path.relpath(journal, self.path)
        where = _relative(self.path, journal)
        records = []
        offset = 0
        try:
            with open(journal, "rb") as f:
                for number, line in enumerate(f, 1):
                    line_offset, offset = offset, offset + len(line)
                    if not line.endswith(b"\n"):
                        self._torn += 1  # only a last line: a record cut short by a kill in its write
                        continue
                    try:
                        records.append((schema.parse_line(line), (where, line_offset)))
                    except schema.RecordError as exc:
                        self._problems.append(RunProblem(name, number, "not a valid record, skipped: %s" % exc))
        except OSError as exc:
            self._problems.append(RunProblem(name, None, "cannot read this journal (%s); its records are "
                                             "skipped" % (exc.strerror or exc)))
        return records

    def calls(self, sample=ANY_SAMPLE, stage=None):
        """Calls in recording order, optionally only of one sample (None is a valid key) and/or stage."""
        if sample is ANY_SAMPLE and stage is None:
            return list(self._load())
        return [c for c in self._load()
                if (sample is ANY_SAMPLE or c.sample == sample) and (stage is None or c.stage == stage)]

    def samples(self):
        """Sample keys in first-seen order; None stands for records made outside any sample."""
        calls = self._load()
        if self._call_codes is not None:
            return self._call_codes.samples_in_order()
        return list(OrderedDict.fromkeys(c.sample for c in calls))

    def stages(self):
        """Stage names in the order of their first call."""
        calls = self._load()
        if self._call_codes is not None:
            return self._call_codes.stages_in_order()
        return list(OrderedDict.fromkeys(c.stage for c in calls))

    def tensors(self):
        """Every recorded tensor, inputs then outputs per call."""
        for call in self._load():
            for tensor in call.inputs + call.outputs:
                yield tensor

    def to_pandas(self):
        """The index as a pandas DataFrame, one row per tensor (requires pyarrow and pandas)."""
        from .frames import run_to_pandas

        return run_to_pandas(self)

    def _repr_html_(self):
        from .frames import run_repr_html

        return run_repr_html(self)

    def index(self):
        """The run as a pyarrow Table, one row per tensor (requires pyarrow); writes nothing.

        Read from RUN/index.parquet when that is up to date with the journals, else built from them
        (``bmtrace.store.index.build_index(path)`` writes it).
        """
        table = self._stored_index()
        if table is not None:
            return table
        from .journal_columns import run_index  # pyarrow: imported only when an index is asked for

        return run_index(self)[0]

    def _stored_index(self):
        index_path = os.path.join(self.path, layout.INDEX_FILE)
        if not os.path.isfile(index_path):
            return None
        from .._deps import require

        pq = require("pyarrow.parquet", package="pyarrow", extra="analysis", feature="the Parquet index")
        try:
            stored = pq.read_schema(index_path)
            fresh = ((stored.metadata or {}).get(layout.INDEX_FINGERPRINT_KEY) ==
                     layout.journals_fingerprint(self.path).encode()
                     and stored.names == [column for column, _ in schema.INDEX_COLUMNS])
            return pq.read_table(index_path) if fresh else None
        except Exception:  # a damaged or foreign index: the journals are the source of truth
            return None

    def payload_path(self, relative, tensor=None):
        """The absolute path of a journal's payload reference, refused unless inside the run directory.

        A packed payload ("<path>#<offset>") gives the pack's path; ``payload_location`` gives both.

        Raises:
            PayloadPathError: ``relative`` is absolute, climbs out with "..", leads outside the run
                through a symlink, or has an offset that is not a number.
        """
        return self.payload_location(relative, tensor)[0]

    def payload_location(self, relative, tensor=None):
        """``(absolute path, byte offset)`` of a journal's payload reference; see ``payload_path``."""
        def refuse(why):
            what = ("tensor %r (%s of stage %r, sample %r)" % (tensor.name, tensor.role, tensor.call.stage,
                                                             tensor.call.sample) if tensor is not None else "a record")
            return PayloadPathError("run %s: %s names payload %r, which %s; refused, since a trace is untrusted "
                                    "data. Restore the run's journal from a copy or re-record the run"
                                    % (self.path, what, relative, why))

        if not relative or "\x00" in relative:
            raise refuse("is not a file name")
        relative, packed, offset = relative.partition("#")
        if packed and not (offset.isdigit() and offset.isascii()):
            raise refuse("has an offset that is not a number")
        if os.path.isabs(relative) or relative.startswith(("/", "\\")):
            raise refuse("is an absolute path")
        if ".." in relative.replace("\\", "/").split("/"):
            raise refuse("climbs out of the run directory with '..'")
        if self._real_path is None:
            self._real_path = os.path.realpath(self.path)
        resolved = os.path.realpath(os.path.join(self._real_path, relative))
        if not resolved.startswith(self._real_path + os.sep):
            raise refuse("leads outside the run directory through a symlink (to %s)" % resolved)
        return resolved, int(offset) if packed else 0


# Process facts the reports print, with their types; a wrong-typed value is dropped (None).
_PROCESS_FIELDS = {
    "host": str, "platform": str, "python": str, "python_implementation": str, "executable": str,
    "cwd": str, "writer": str, "pid": int, "opened": (int, float), "argv": list, "versions": dict,
    "env": dict, "opencv_build": dict,
}


def _checked_process(proc):
    """A procs/*.json document with every field the reports use of the type they expect."""
    checked = dict(proc)
    for key, typ in _PROCESS_FIELDS.items():
        value = proc.get(key)
        if value is None or isinstance(value, bool) or not isinstance(value, typ):
            checked[key] = None
    if checked["argv"] is not None:
        checked["argv"] = [str(arg) for arg in checked["argv"]]
    for key in ("versions", "env"):
        if checked[key] is not None:
            checked[key] = {str(k): str(v) for k, v in checked[key].items()}
    return checked


# lazy runs: parsed calls kept (a diff walks the calls in order, two runs a pair at a time)
LAZY_CACHE_CALLS = 1024
JOURNAL_BLOCK = 1 << 18  # bytes read at once from a lazy run's journal


def _line_in(block, offset, length):
    """The line at ``offset`` when ``block`` (its start, its bytes) holds all of it, else None."""
    start, data = block
    at = offset - start
    if not 0 <= at < len(data):
        return None
    if length is not None:
        return data[at:at + length] if at + length <= len(data) else None
    end = data.find(b"\n", at)
    return data[at:end + 1] if end >= 0 else None


class _ParsedOnDemand:
    """What the calls of a lazy run share: an attribute they do not hold is the parsed call's."""

    __slots__ = ()

    def __getattr__(self, name):  # only for names not in __slots__: the parsed call's
        call = self._call
        if call is None:
            if name.startswith("__"):
                raise AttributeError(name)
            call = self.run._parsed_call(self)
        return getattr(call, name)

    def __repr__(self):
        return repr(self.run._parsed_call(self))

    def input(self, name):
        return self.run._parsed_call(self).input(name)

    def output(self, name="out"):
        return self.run._parsed_call(self).output(name)


class LazyCall(_ParsedOnDemand):
    """A call of a lazy ``Run``: sample, stage and occurrence at hand, every other ``Call`` attribute
    read from its journal line on first use (see ``Run``)."""

    __slots__ = ("run", "sample", "stage", "occurrence", "_journal", "_offset", "_length", "_call")

    def __init__(self, run, sample, stage, occurrence, journal, offset, length):
        self.run, self.sample, self.stage, self.occurrence = run, sample, stage, occurrence
        self._journal, self._offset, self._length = journal, offset, length
        self._call = None  # the parsed Call while it is among the recent ones

    def _forget(self):
        self._call = None


class IndexedCall(_ParsedOnDemand):
    """A lazy call found through the run's fresh index: its id, parent, mode and tensors (names, kinds,
    dtypes, shapes, hashes) come from the index, so call pairs settled by their hashes are never parsed
    (``bmtrace.store.indexed_calls``); everything else is read from its journal line.

    A long run opens 300,000 of these: each holds only what is read call after call; where its line is
    (journal, offset) comes from the run's ``CallCodes`` when parsing."""

    __slots__ = ("run", "sample", "stage", "occurrence", "_call", "_tensors", "_columns", "_first", "_end",
                 "_stage_errors")
    _length = None  # the line runs to its newline

    def __init__(self, run, sample, stage, occurrence, columns, first, end, stage_errors):
        self.run, self.sample, self.stage, self.occurrence = run, sample, stage, occurrence
        self._call = self._tensors = None
        self._columns, self._first, self._end = columns, first, end
        self._stage_errors = stage_errors  # calls of this stage with an error, per the index summary

    def _forget(self):
        self._call = None
        self._tensors = None

    @property
    def _journal(self):
        return self.run._call_codes.journal_of(self._first)

    @property
    def _offset(self):
        return int(self._columns.ints["journal_offset"][self._first])

    @property
    def id(self):
        return self._columns.strings["call_id"][self._first]

    @property
    def parent(self):
        return self._columns.coded["parent"][self._first]

    @property
    def mode(self):
        return self._columns.coded["mode"][self._first]

    @property
    def error(self):
        # a stage without a single error: every call's error is None (schema.parse_call drops empty ones)
        return None if not self._stage_errors else self.run._parsed_call(self).error

    @property
    def meta(self):
        """The call's own meta, from its line without parsing the rest (predictions read it)."""
        return self.run._parsed_meta(self)

    @property
    def may_have_op(self):
        """False when the call's function names no auto-traced op (so ``function`` need not be read)."""
        return self._columns.coded["fn_op"][self._first] is not None

    @property
    def inputs(self):
        tensors = self._tensors
        return (tensors if tensors is not None else self._tensor_lists())[0]

    @property
    def outputs(self):
        tensors = self._tensors
        return (tensors if tensors is not None else self._tensor_lists())[1]

    def _tensor_lists(self):
        tensors = self._tensors
        if tensors is None:
            columns, inputs, outputs = self._columns, [], []
            role = columns.coded["role"]
            for row in range(self._first, self._end):
                name = role.values[role.codes[row]]
                side = inputs if name == "input" else outputs
                side.append(indexed_calls.IndexedTensor(self, columns, row, len(side), name))
            with self.run._lock:
                if self._tensors is None:
                    self._tensors = (inputs, outputs)
                    self.run._remember(self)
                tensors = self._tensors
        return tensors

    def input(self, name):
        return _by_name(self.inputs, name, self, "input")

    def output(self, name="out"):
        return _by_name(self.outputs, name, self, "output")


def _check_call_id(lazy, found):
    """RecordError unless the line read for an ``IndexedCall`` is the call the index names."""
    if found != lazy.id:
        raise schema.RecordError("the line at byte %d is call %r, the index says %r" % (lazy._offset, found, lazy.id))


def _relative(run_path, journal):
    """A journal's run-relative path with "/" (the index's "journal" column)."""
    return os.path.relpath(journal, run_path).replace(os.sep, "/")


def _sort_key_of_located(located):
    return schema.sort_key(located[0])


class Call:
    """One completed stage call; ``location`` is (journal, byte offset) of its line, None when it was
    not read from a journal."""

    __slots__ = ("run", "id", "sample", "stage", "occurrence", "parent", "function", "error", "meta",
                 "mode", "pid", "thread", "t_start", "t_end", "inputs", "outputs", "writer", "seq", "hash_alg",
                 "location")

    def __init__(self, run, record, occurrence, location=None):
        """``record`` is a validated record from ``schema.parse_call``."""
        self.run = run
        self.occurrence = occurrence
        self.location = location
        self.id, self.sample, self.stage, self.parent = record["id"], record["sample"], record["stage"], record["parent"]
        self.function, self.error, self.meta, self.mode = (record["function"], record["error"], record["meta"],
                                                           record["mode"])
        self.pid, self.thread, self.t_start, self.t_end = record["pid"], record["thread"], record["t_start"], record["t_end"]
        self.writer, self.seq = record["writer"], record["seq"]
        self.hash_alg = record["hash_alg"] or schema.LEGACY_HASH_ALG
        self.inputs = [Tensor(self, e) for e in record["inputs"]]
        self.outputs = [Tensor(self, e) for e in record["outputs"]]

    def __repr__(self):
        return "<Call %s sample=%r #%d%s>" % (self.stage, self.sample, self.occurrence, " error" if self.error else "")

    def input(self, name):
        return _by_name(self.inputs, name, self, "input")

    def output(self, name="out"):
        return _by_name(self.outputs, name, self, "output")


class Tensor:
    """One recorded leaf value; ``load()`` reads its payload from disk and checks it."""

    __slots__ = ("call", "name", "role", "kind", "dtype", "shape", "min", "max", "mean", "std", "nan_count",
                 "inf_count", "hash", "meta", "note", "payload", "value", "path", "container", "py_type",
                 "_hash_alg", "sketch", "stats_sample")

    def __init__(self, call, entry):
        """``entry`` is a validated tensor entry from ``schema.parse_tensor``."""
        self.call = call
        self.name, self.role, self.kind, self.dtype = entry["name"], entry["role"], entry["kind"], entry["dtype"]
        self.min, self.max, self.mean, self.std = entry["min"], entry["max"], entry["mean"], entry["std"]
        self.nan_count, self.inf_count, self.hash = entry["nan_count"], entry["inf_count"], entry["hash"]
        self.meta, self.note, self.payload, self.value = entry["meta"], entry["note"], entry["payload"], entry["value"]
        self.path, self.container, self.py_type = entry["path"], entry["container"], entry["py_type"]
        self.shape = tuple(entry["shape"]) if entry["shape"] is not None else None
        self._hash_alg = entry["hash_alg"]
        self.sketch = entry["sketch"]  # stats mode: sampled values (bmtrace.codecs.sketch)
        self.stats_sample = entry["stats_sample"]  # stats mode: mean/std over this many elements (None: all)

    def __repr__(self):
        return "<Tensor %s %s %s %s>" % (self.name, self.kind, self.dtype, self.shape)

    @property
    def hash_alg(self):
        """The algorithm of ``hash`` ("xxh3-128" or "sha1"); hashes compare only within one algorithm."""
        return self._hash_alg or self.call.hash_alg

    @property
    def has_payload(self):
        return self.payload is not None or self.kind == "scalar"

    @property
    def is_array(self):
        return schema.is_array(self.kind)

    @property
    def payload_file(self):
        """Absolute path of the payload file, checked to be inside the run (None without payload); a
        small payload is one record of a pack file, at the offset its reference names."""
        if self.payload is None:
            return None
        return self.call.run.payload_path(self.payload, self)

    def load(self, verify=None):
        """The tensor as a numpy array, read from its .npy payload.

        Args:
            verify: check the payload against the recorded content hash. None (default): when that is
                cheap (an xxh3 hash, or a SHA-1 payload under 4 MiB); True: always when possible.

        Raises:
            PayloadMissingError: recorded without payload, or the payload file is gone.
            PayloadPathError: the journal names a payload outside the run directory.
            PayloadCorruptError: the payload is unreadable, truncated or does not match its hash.
        """
        if self.payload is None:
            if self.kind == "scalar":
                return np.asarray(self.value, dtype=self.dtype)
            raise PayloadMissingError(
                "tensor %r (%s of stage %r, sample %r) in run %s has no payload (%s); re-record that stage in "
                "full mode to compare its values" % (self.name, self.role, self.call.stage, self.call.sample,
                                                      self.call.run.path,
                                                      self.note or "recorded in %s mode" % self.call.mode))
        path, offset = self.call.run.payload_location(self.payload, self)
        try:
            arr = load_npy(path, self.dtype, self.shape, offset)
        except FileNotFoundError:
            raise PayloadMissingError("payload %s of %s is missing: files of the run were deleted or not copied; "
                                      "copy the whole run directory" % (path, self._where())) from None
        except (OSError, ValueError, EOFError) as exc:
            raise PayloadCorruptError("payload %s of %s cannot be read (%s: %s); the file is damaged or was "
                                      "replaced: re-record the run or restore it from a copy"
                                      % (path, self._where(), type(exc).__name__, exc)) from None
        if should_verify(self, arr, verify):
            found = hashing.content_hash(arr, self.hash_alg)
            if found != self.hash:
                raise PayloadCorruptError(
                    "payload %s of %s does not match its recorded content hash (%s %s, file has %s): the file "
                    "was damaged or modified after recording; re-record the run or restore it from a copy"
                    % (path, self._where(), self.hash_alg, self.hash, found))
        return arr

    def _where(self):
        return "tensor %r (%s of stage %r, sample %r) in run %s" % (self.name, self.role, self.call.stage,
                                                                   self.call.sample, self.call.run.path)


def should_verify(tensor, arr, verify=None):
    """Whether loading ``tensor`` (a reader ``Tensor`` or anything with its ``hash`` and ``hash_alg``)
    as ``arr`` checks the content hash: always when ``verify`` is True, never when False, and by
    default unless the hash is SHA-1 (slow) and the array larger than ``VERIFY_SLOW_HASH_BYTES``."""
    if verify is False or not tensor.hash or not hashing.available(tensor.hash_alg):
        return False
    return bool(verify) or tensor.hash_alg != hashing.SHA1 or arr.nbytes <= VERIFY_SLOW_HASH_BYTES


_NPY_MAGIC = b"\x93NUMPY"


def load_npy(path, dtype=None, shape=None, offset=0):
    """np.load of the .npy file at ``path`` (or of the .npy record at ``offset`` of a pack), minus its
    header parse (ast.literal_eval, ~0.25 ms a file) when the journal already knows dtype and shape;
    anything that does not match that expectation goes through np.load."""
    try:
        expected = np.dtype(dtype) if dtype and shape is not None else None
    except TypeError:
        expected = None
    with open(path, "rb") as f:
        if offset:
            f.seek(offset)
        if expected is None or expected.hasobject or expected.names is not None:
            return np.load(f, allow_pickle=False)
        prefix = f.read(12)
        bounds = npy_header_bounds(prefix)
        if bounds is None:
            return _np_load_at(f, offset)
        header = prefix[bounds[0]:] + f.read(max(bounds[1] - 12, 0))
        count = int(np.prod(shape, dtype=np.int64))
        if npy_layout(header, expected, shape) != "C":
            return _np_load_at(f, offset)
        buffer = bytearray(count * expected.itemsize)  # bytearray: the loaded array stays writable
        if f.readinto(buffer) != len(buffer) or (not offset and f.read(1)):
            return _np_load_at(f, offset)  # truncated, or a whole file longer than the array
    return np.frombuffer(buffer, dtype=expected, count=count).reshape(shape)


def npy_header_bounds(prefix):
    """``(header start, data start)`` of an .npy record from its first 12 bytes, or None when they are
    not an .npy magic string and version."""
    if len(prefix) < 12 or prefix[:6] != _NPY_MAGIC or prefix[6] not in (1, 2, 3):
        return None
    start = 10 if prefix[6] == 1 else 12
    return start, start + int.from_bytes(bytes(prefix[8:start]), "little")


def npy_layout(header, expected, shape):
    """"C" or "F" when the .npy header text says exactly dtype ``expected`` and ``shape``, else None."""
    fortran = b"'fortran_order': True" in header
    if ((not fortran and b"'fortran_order': False" not in header) or ("'%s'" % expected.str).encode() not in header
            or ("'shape': %r" % (tuple(shape),)).encode() not in header):
        return None
    return "F" if fortran else "C"


def _np_load_at(f, offset):
    f.seek(offset)
    return np.load(f, allow_pickle=False)


def _by_name(tensors, name, call, role):
    for tensor in tensors:
        if tensor.name == name:
            return tensor
    raise KeyError("%s %r not recorded for stage %r sample %r; recorded: %s"
                   % (role, name, call.stage, call.sample, ", ".join(t.name for t in tensors) or "none"))
