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

import numpy as np

from . import schema

# the index columns a lazy run reads (INDEX_COLUMNS has more: statistics and values come from lines)
COLUMNS = ("call_id", "sample", "stage", "occurrence", "parent", "mode", "fn_op", "journal", "journal_offset",
           "role", "name", "kind", "dtype", "shape", "nan_count", "inf_count", "hash", "hash_alg", "meta",
           "payload")
# few distinct values, read once a call / for every tensor
_CODED_PER_CALL = ("sample", "stage", "parent", "mode", "fn_op", "journal")
_CODED_PER_TENSOR = ("role", "name", "kind", "dtype", "hash_alg", "meta")
_UNIQUE = ("call_id", "hash", "payload")  # about one value per row


class _Coded:
    """A string column with few distinct values: codes into one list of Python strings (None: null)."""

    __slots__ = ("values", "codes")

    def __init__(self, array, per_tensor):
        encoded = array.dictionary_encode()
        self.values = encoded.dictionary.to_pylist() + [None]
        codes = encoded.indices.fill_null(-1).to_numpy(zero_copy_only=False)
        # Read for every tensor: a list, several times faster to index than an array (8 bytes a row, the
        # small ints shared). Read once a call: the array (4 bytes a row).
        self.codes = codes.tolist() if per_tensor else codes

    def __getitem__(self, row):
        return self.values[self.codes[row]]

    def escaped(self):
        return any(schema.ESCAPE_MARK in value for value in self.values if value is not None)


class _Strings:
    """A string column of mostly distinct values, kept as one bytes buffer and offsets."""

    __slots__ = ("data", "offsets", "null")

    def __init__(self, pa, array):
        array = array.cast(pa.large_string())
        self.null = array.is_null().to_numpy(zero_copy_only=False)
        _, offsets, data = array.buffers()
        self.offsets = np.frombuffer(offsets, dtype=np.int64)[array.offset:array.offset + len(array) + 1]
        self.data = data.to_pybytes() if data is not None else b""

    def __getitem__(self, row):
        if self.null[row]:
            return None
        return self.data[self.offsets[row]:self.offsets[row + 1]].decode("utf-8")

    def escaped(self):
        return schema.ESCAPE_MARK.encode() in self.data


class IndexColumns:
    """The index rows of one run (one per tensor, calls in recording order), ready for lookups."""

    def __init__(self, table):
        import pyarrow as pa

        table = table.select(list(COLUMNS)).combine_chunks()
        column = {name: table.column(name).chunk(0) if table.column(name).num_chunks else
                  pa.array([], type=table.schema.field(name).type) for name in COLUMNS}
        self.coded = {name: _Coded(column[name], name in _CODED_PER_TENSOR)
                      for name in _CODED_PER_CALL + _CODED_PER_TENSOR}
        self.strings = {name: _Strings(pa, column[name]) for name in _UNIQUE}
        self.escaped = any(c.escaped() for c in self.coded.values()) or any(
            s.escaped() for s in self.strings.values())
        ints = {}
        for name in ("occurrence", "journal_offset", "nan_count", "inf_count"):
            if column[name].null_count:
                raise ValueError("index column %s has nulls" % name)
            ints[name] = column[name].to_numpy(zero_copy_only=False).astype(np.int64)
        self.ints = ints
        self.tensor_coded = tuple(self.coded[name] for name in ("name", "kind", "dtype", "hash_alg", "meta"))
        self.hashes, self.payloads = self.strings["hash"], self.strings["payload"]
        self.nan_count, self.inf_count = ints["nan_count"].tolist(), ints["inf_count"].tolist()
        shape = column["shape"]
        self.shape_null = shape.is_null().to_numpy(zero_copy_only=False)
        self.shape_offsets = shape.offsets.to_numpy(zero_copy_only=False)
        self.shape_values = shape.values.to_numpy(zero_copy_only=False) if len(shape.values) else \
            np.zeros(0, dtype=np.int64)
        self.rows = table.num_rows
        journal, offset = self.coded["journal"].codes, self.ints["journal_offset"]
        if self.rows:
            change = np.flatnonzero((journal[1:] != journal[:-1]) | (offset[1:] != offset[:-1])) + 1
            self.starts = np.concatenate(([0], change)).astype(np.int64)
        else:
            self.starts = np.zeros(0, dtype=np.int64)
        self.ends = np.append(self.starts[1:], self.rows).astype(np.int64)

    def shape(self, row):
        if self.shape_null[row]:
            return None
        return tuple(self.shape_values[self.shape_offsets[row]:self.shape_offsets[row + 1]].tolist())


def indexed_calls(table, summary, journal_names, make_call):
    """A run's calls from its fresh index ``table`` and ``summary``, or None when the index cannot
    stand in for the journals (then the run reads them as usual).

    ``journal_names``: the run's journals, run-relative with "/" (the index's "journal" column);
    ``make_call(sample, stage, occurrence, journal number, offset, columns, first row, end row, stage
    errors)`` builds one call.
    """
    if summary.get("torn_lines") or summary.get("problems"):
        return None  # the skipped lines are reported from the journals, with their line numbers
    columns = IndexColumns(table)
    stages = summary.get("stages") or []
    if columns.escaped or len(columns.starts) != sum(int(s.get("calls", 0)) for s in stages):
        return None  # text the index had to escape, or calls without a tensor (no row of their own)
    errors = {s.get("stage"): int(s.get("errors", 0)) for s in stages}
    numbers = {name: number for number, name in enumerate(journal_names)}
    journal_number = []
    for name in columns.coded["journal"].values:
        if name is not None and name not in numbers:
            return None  # a journal the index names but the run does not hold
        journal_number.append(numbers.get(name))
    coded = columns.coded
    sample, stage, journal = coded["sample"], coded["stage"], coded["journal"]
    occurrence, offset = columns.ints["occurrence"], columns.ints["journal_offset"]
    starts = columns.starts
    numbers = [journal_number[code] for code in journal.codes[starts].tolist()]
    if None in numbers:
        return None
    # one Python object per distinct sample key and stage, whatever the number of calls
    samples = [sample.values[code] for code in sample.codes[starts].tolist()]
    stages = [stage.values[code] for code in stage.codes[starts].tolist()]
    stage_errors = {name: errors.get(name, 1) for name in set(stages)}
    return [make_call(key, name, number_of_occurrence, number, line_offset, columns, first, end, stage_errors[name])
            for key, name, number_of_occurrence, number, line_offset, first, end in zip(
                samples, stages, occurrence[starts].tolist(), numbers, offset[starts].tolist(), starts.tolist(),
                columns.ends.tolist())]


class IndexedTensor:
    """A tensor of an ``IndexedCall``: names, kind, dtype, shape and hash from the index, anything else
    from the parsed journal line."""

    __slots__ = ("call", "_position", "name", "role", "kind", "dtype", "shape", "hash", "payload", "nan_count",
                 "inf_count", "_alg", "_meta_empty")

    def __init__(self, call, columns, row, position, role):
        self.call, self._position, self.role = call, position, role
        name, kind, dtype, alg, meta = columns.tensor_coded
        self.name, self.kind, self.dtype = name.values[name.codes[row]], kind.values[kind.codes[row]], \
            dtype.values[dtype.codes[row]]
        self._alg, self._meta_empty = alg.values[alg.codes[row]], meta.values[meta.codes[row]] == "{}"
        self.shape = columns.shape(row)
        self.hash, self.payload = columns.hashes[row], columns.payloads[row]
        self.nan_count, self.inf_count = columns.nan_count[row], columns.inf_count[row]

    def _parsed(self):
        call = self.call.run._parsed_call(self.call)
        tensors = call.inputs if self.role == "input" else call.outputs
        tensor = tensors[self._position] if self._position < len(tensors) else None
        if tensor is None or tensor.name != self.name:
            from ..errors import CorruptRunError

            raise CorruptRunError("run %s: the journal line of stage %r, sample %r no longer holds %s %r as the "
                                  "index says; open the run again" % (self.call.run.path, self.call.stage,
                                                                       self.call.sample, self.role, self.name))
        return tensor

    def __getattr__(self, name):  # only for names not in __slots__: the parsed tensor's
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
