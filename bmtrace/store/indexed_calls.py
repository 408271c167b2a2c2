"""Calls of a lazy ``Run`` served from its fresh Parquet index, so a diff parses only the lines it needs.

A diff of two long runs settles most call pairs on content hashes alone: names, roles, kinds,
dtypes, shapes and hashes decide them, and all of those are index columns. ``IndexedCall`` and
``IndexedTensor`` answer those attributes from compact columns (one Python object per distinct
value, hashes as one bytes buffer) and parse the call's journal line, at the offset the index gives,
for anything else (statistics, sketches, values, payload loads).

Only attributes whose index value is exactly what parsing the line gives are served: a non-empty
``meta``, a call of a stage that recorded errors, an auto-traced op, all come from the line. An index
the columns cannot vouch for (missing call rows, lone-surrogate escapes, unknown journals) is not
used: the run reads its journals as before.

Analysis only (pyarrow); the recording path never imports this.
"""
from __future__ import annotations

import contextlib
import gc
from itertools import repeat

import numpy as np

from . import schema

# the index columns a lazy run reads (INDEX_COLUMNS has more: statistics and values come from lines)
COLUMNS = ("call_id", "sample", "stage", "occurrence", "parent", "mode", "fn_op", "journal", "journal_offset",
           "role", "name", "kind", "dtype", "shape", "nan_count", "inf_count", "hash", "hash_alg", "meta",
           "payload")
# float64, the lines' numbers as floats (null: none): read too for a run that holds payloads, whose diverged
# pairs a diff screens on them (diff.pairs._statistics)
STATISTIC_COLUMNS = ("min", "max", "mean", "std")
# few distinct values, read once a call / for every tensor
_CODED_PER_CALL = ("sample", "stage", "parent", "mode", "fn_op", "journal")
_CODED_PER_TENSOR = ("role", "name", "kind", "dtype", "hash_alg", "meta")
_UNIQUE = ("call_id", "hash", "payload")  # about one value per row


class _Coded:
    """A string column with few distinct values: codes into one list of Python strings (None: null).

    ``read_fresh`` reads these columns as the dictionaries Parquet stores, so the strings are neither
    materialized per row nor encoded again; a plain string column is encoded here."""

    __slots__ = ("values", "codes", "_escaped", "_code")

    def __init__(self, pa, array, per_tensor):
        from .arrow_arrays import nulls, numbers

        if not pa.types.is_dictionary(array.type):
            array = array.dictionary_encode()
        self.values = array.dictionary.to_pylist() + [None]
        self._escaped = _Strings(pa, array.dictionary).escaped()  # one search of the text, not one per value
        indices = array.indices
        codes = numbers(indices, "int%d" % indices.type.bit_width)
        if indices.null_count:
            codes = np.where(nulls(indices), -1, codes).astype(np.int32)
        # Read for every tensor: a list, several times faster to index than an array (8 bytes a row, the
        # small ints shared). Read once a call: the array (4 bytes a row).
        self.codes = codes.tolist() if per_tensor else codes
        self._code = self.codes if per_tensor else memoryview(codes)  # a row's code as a Python int

    def __getitem__(self, row):
        return self.values[self._code[row]]

    def escaped(self):
        return self._escaped


class _Strings:
    """A string column of mostly distinct values, kept as one bytes buffer and offsets."""

    __slots__ = ("data", "offsets", "null", "_at", "_is_null")

    def __init__(self, pa, array):
        from .arrow_arrays import nulls

        if array.type not in (pa.string(), pa.large_string()):
            raise ValueError("index column of type %s, not text" % array.type)
        self.null = nulls(array)
        _, offsets, data = array.buffers()
        offsets = np.frombuffer(offsets, dtype=np.int64 if array.type == pa.large_string() else np.int32) \
            if offsets is not None else np.zeros(1, dtype=np.int64)
        self.offsets = offsets[array.offset:array.offset + len(array) + 1].astype(np.int64)
        self.data = data.to_pybytes() if data is not None else b""
        # what a row lookup reads: views indexed as Python ints and bools, cheaper than numpy scalars
        self._at, self._is_null = memoryview(self.offsets), memoryview(self.null)

    def __getitem__(self, row):
        if self._is_null[row]:
            return None
        at = self._at
        return self.data[at[row]:at[row + 1]].decode("utf-8")

    def escaped(self):
        return schema.ESCAPE_MARK.encode() in self.data


class IndexColumns:
    """The index rows of one run (one per tensor, calls in recording order), ready for lookups."""

    def __init__(self, table):
        import pyarrow as pa

        from .arrow_arrays import nulls, numbers

        with_statistics = all(name in table.column_names for name in STATISTIC_COLUMNS)
        names = COLUMNS + (STATISTIC_COLUMNS if with_statistics else ())
        table = table.select(list(names)).unify_dictionaries().combine_chunks()
        column = {name: table.column(name).chunk(0) if table.column(name).num_chunks else
                  pa.array([], type=table.schema.field(name).type) for name in names}
        self.coded = {name: _Coded(pa, column[name], name in _CODED_PER_TENSOR)
                      for name in _CODED_PER_CALL + _CODED_PER_TENSOR}
        self.strings = {name: _Strings(pa, column[name]) for name in _UNIQUE}
        self.escaped = any(c.escaped() for c in self.coded.values()) or any(
            s.escaped() for s in self.strings.values())
        ints = {}
        for name in ("occurrence", "journal_offset", "nan_count", "inf_count"):
            if column[name].null_count:
                raise ValueError("index column %s has nulls" % name)
            ints[name] = numbers(column[name], "int64").astype(np.int64)
        self.ints = ints
        self.tensor_coded = tuple(self.coded[name] for name in ("name", "kind", "dtype", "hash_alg", "meta"))
        self.hashes, self.payloads = self.strings["hash"], self.strings["payload"]
        self.nan_count, self.inf_count = ints["nan_count"].tolist(), ints["inf_count"].tolist()
        # numpy arrays of them, made once asked for (a Python list would cost 4 objects a row)
        self._statistic_arrays = [column[name] for name in STATISTIC_COLUMNS] if with_statistics else None
        self._statistic_views = None
        shape = column["shape"]
        self.shape_null = nulls(shape)
        self.shape_offsets = numbers(shape.offsets, "int32")
        self.shape_values = numbers(shape.values, "int64")
        # shape(row) reads views of them: Python ints, without a numpy scalar or array per lookup
        self._shape_is_null, self._shape_at = memoryview(self.shape_null), memoryview(self.shape_offsets)
        self._shape_dims = memoryview(self.shape_values)
        self.rows = table.num_rows
        journal, offset = self.coded["journal"].codes, self.ints["journal_offset"]
        if self.rows:
            change = np.flatnonzero((journal[1:] != journal[:-1]) | (offset[1:] != offset[:-1])) + 1
            self.starts = np.concatenate(([0], change)).astype(np.int64)
        else:
            self.starts = np.zeros(0, dtype=np.int64)
        self.ends = np.append(self.starts[1:], self.rows).astype(np.int64)

    def statistics(self, row):
        """[min, max, mean, std] of ``row`` as the index holds them (the lines' numbers as floats, NaN where
        the line has none), or None when the table had no such columns."""
        views = self._statistic_views
        if views is None:
            if self._statistic_arrays is None:
                return None
            from .arrow_arrays import to_numpy

            views = self._statistic_views = [to_numpy(array) for array in self._statistic_arrays]
        return [float(view[row]) for view in views]

    def shape(self, row):
        if self._shape_is_null[row]:
            return None
        at = self._shape_at
        return tuple(self._shape_dims[at[row]:at[row + 1]].tolist())


def indexed_calls(table, summary, journal_names):
    """A run's calls from its fresh index ``table`` and ``summary`` as ``CallCodes``, or None when the index
    cannot stand in for the journals (then the run reads them as usual).

    ``journal_names``: the run's journals, run-relative with "/" (the index's "journal" column).
    """
    if summary.get("torn_lines") or summary.get("problems"):
        return None  # the skipped lines are reported from the journals, with their line numbers
    columns = IndexColumns(table)
    stages = summary.get("stages") or []
    if columns.escaped or len(columns.starts) != sum(int(s.get("calls", 0)) for s in stages):
        return None  # text the index had to escape, or calls without a tensor (no row of their own)
    numbers = {name: number for number, name in enumerate(journal_names)}
    if any(name not in numbers for name in columns.coded["journal"].values[:-1]):
        return None  # a journal the index names but the run does not hold
    if (columns.coded["journal"].codes[columns.starts] < 0).any():
        return None  # a call without a journal
    errors = {s.get("stage"): int(s.get("errors", 0)) for s in stages}
    return CallCodes(columns, [numbers[name] for name in columns.coded["journal"].values[:-1]], errors)


@contextlib.contextmanager
def collector_paused():
    """Build many long-lived objects (a long run's calls, their pairs) without the cyclic collector: it
    would walk the growing heap of them, which holds no garbage, several times over (a fifth of opening
    two 100k-sample runs). Collection resumes, as the program had it, after."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _normalized(coded, rows):
    """``coded``'s codes at ``rows``, null (-1) as the index of the None ending its values."""
    codes = coded.codes[rows]
    return np.where(codes < 0, len(coded.values) - 1, codes)


class CallCodes:
    """The calls of an indexed run as arrays, one entry per call in recording order: what alignment needs
    (sample, stage, occurrence) and what each ``IndexedCall`` is built from.

    ``samples``/``stages``: distinct values (one Python object each; None for a null); ``sample_codes``/
    ``stage_codes`` index them.
    """

    def __init__(self, columns, journal_numbers, stage_errors):
        starts = columns.starts
        self.columns = columns
        self.samples, self.stages = columns.coded["sample"].values, columns.coded["stage"].values
        self.sample_codes = _normalized(columns.coded["sample"], starts)
        self.stage_codes = _normalized(columns.coded["stage"], starts)
        self.occurrences = columns.ints["occurrence"][starts]
        self._journal_numbers = journal_numbers  # per code of the journal column
        self._sample_order = self._stage_order = None  # codes in first-seen order, once asked for
        # a stage the summary does not count errors for: assume it has some (its calls' errors are parsed)
        self._stage_errors = [stage_errors.get(name, 1) for name in self.stages]

    def journal_of(self, row):
        """The number of the journal (in ``journal_names``) holding index row ``row``."""
        return self._journal_numbers[self.columns.coded["journal"].codes[row]]

    def make_calls(self, make_call):
        """``make_call(sample, stage, occurrence, columns, first row, end row, stage errors)`` for each call, in
        recording order (built by ``map``: a long run has 300,000 calls)."""
        columns = self.columns
        firsts = columns.starts.tolist()
        with collector_paused():
            return list(map(make_call, picked(self.samples, self.sample_codes),
                            picked(self.stages, self.stage_codes), self.occurrences.tolist(), repeat(columns),
                            firsts, firsts[1:] + [columns.rows],  # a call ends where the next starts
                            picked(self._stage_errors, self.stage_codes)))

    def sample_order(self):
        """The codes of the distinct samples in the order of their first call."""
        if self._sample_order is None:
            self._sample_order = _first_seen(self.sample_codes)
        return self._sample_order

    def samples_in_order(self):
        """Distinct sample keys in the order of their first call (``Run.samples``)."""
        return [self.samples[code] for code in self.sample_order().tolist()]

    def stages_in_order(self):
        """Distinct stage names in the order of their first call (``Run.stages``)."""
        if self._stage_order is None:
            self._stage_order = _first_seen(self.stage_codes)
        return [self.stages[code] for code in self._stage_order.tolist()]


def picked(values, codes):
    """``values[code]`` for each code (an int array): one object per distinct value, shared where its code
    repeats."""
    # fromiter: assigning a list to an object array would ask each value (a call, say) for
    # __array_interface__, which parses it
    return np.fromiter(values, dtype=object, count=len(values))[codes].tolist()


def _first_seen(codes):
    distinct, first = np.unique(codes, return_index=True)
    return distinct[np.argsort(first)]


def _from_line(name):
    """A property reading ``name`` from the parsed tensor: a diff judging a stats-mode pair reads several
    of these per tensor, and a property is a few times cheaper than the ``__getattr__`` fallback (a
    failed lookup, then a Python call)."""
    def read(tensor):
        parsed = tensor._tensor
        return getattr(parsed if parsed is not None else tensor._parsed(), name)

    read.__name__ = name
    return property(read)


class IndexedTensor:
    """A tensor of an ``IndexedCall``: names, kind, dtype, shape and hash from the index, anything else
    from the parsed journal line."""

    __slots__ = ("call", "_position", "_row", "name", "role", "kind", "dtype", "shape", "hash", "payload",
                 "nan_count", "inf_count", "_alg", "_meta_empty", "_tensor")

    def __init__(self, call, columns, row, position, role):
        self.call, self._position, self._row, self.role = call, position, row, role
        name, kind, dtype, alg, meta = columns.tensor_coded
        self.name, self.kind, self.dtype = name.values[name.codes[row]], kind.values[kind.codes[row]], \
            dtype.values[dtype.codes[row]]
        self._alg, self._meta_empty = alg.values[alg.codes[row]], meta.values[meta.codes[row]] == "{}"
        self.shape = columns.shape(row)
        self.hash, self.payload = columns.hashes[row], columns.payloads[row]
        self.nan_count, self.inf_count = columns.nan_count[row], columns.inf_count[row]
        self._tensor = None

    def _parsed(self):
        tensor = self._tensor
        if tensor is not None:
            return tensor
        tensor = self.call.run._parsed_entry(self.call, self.role, self._position)
        if tensor is None or tensor.name != self.name:
            from ..errors import CorruptRunError

            raise CorruptRunError("run %s: the journal line of stage %r, sample %r no longer holds %s %r as the "
                                  "index says; open the run again" % (self.call.run.path, self.call.stage,
                                                                       self.call.sample, self.role, self.name))
        self._tensor = tensor  # kept while its call is among the recent ones (reader.LAZY_CACHE_CALLS)
        return tensor

    # what a comparison reads of the line: properties, not the __getattr__ fallback below
    min, max, mean, std = _from_line("min"), _from_line("max"), _from_line("mean"), _from_line("std")
    sketch, stats_sample, value = _from_line("sketch"), _from_line("stats_sample"), _from_line("value")

    def statistics(self):
        """[min, max, mean, std] as the index holds them (the line's numbers as floats, NaN: not recorded),
        or None when the run was opened without them. (``min`` and the others give the line's own values:
        an integer tensor's min is an int.)"""
        return self.call._columns.statistics(self._row)

    def __getattr__(self, name):  # only for names not in __slots__ nor above: the parsed tensor's
        if name.startswith("__"):
            raise AttributeError(name)
        return getattr(self._parsed(), name)

    def __repr__(self):
        return "<Tensor %s %s %s %s>" % (self.name, self.kind, self.dtype, self.shape)

    @property
    def hash_alg(self):
        return self._alg if self.hash else self._parsed().hash_alg

    @property
    def meta(self):
        return {} if self._meta_empty else self._parsed().meta

    @property
    def has_payload(self):
        return self.payload is not None or self.kind == "scalar"

    @property
    def is_array(self):
        return schema.is_array(self.kind)

    def load(self, verify=None):
        return self._parsed().load(verify)
