"""Index columns and call locations straight from the journals, without a Call or Tensor per record.

``Run`` parses every line into Python objects: fine for a diff of a few thousand calls, far too slow
and too big for the index of a 100k-sample run. Here pyarrow's JSON reader parses a journal chunk by
chunk (in C++) and the chunk becomes columns at once: the index (``journal_index``, at stop()) and,
for a lazy ``Run`` (diffs), where each call's line is (``call_skeleton``).

pyarrow wants one type per field and accepts lines ``schema.parse_call`` refuses, so a chunk is taken
only when its inferred types prove every line valid. Fields pyarrow cannot type or give back as the
index spells them (values of several types, container paths, meta, 1 against 1.0) are substituted
away for it (only JSON scalars exactly as json.loads reads them) and taken from ``json.loads`` of
their lines. Any other chunk is parsed line by line by ``schema.parse_line``, exactly as ``Run`` does.
Either way the table equals ``schema.index_table(Run(path))`` and the problems are ``Run``'s.

Analysis only (needs pyarrow); the recording path never imports this.
"""
from __future__ import annotations

import glob
import itertools
import json
import math
import os
import re

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pj

from . import arrow_arrays as aa, layout, schema

CHUNK_BYTES = 8 << 20  # of journal text per pyarrow parse: bounds the memory of a build (~20x this)

# the call columns every chunk yields, whichever way it was parsed
_CALL_COLUMNS = ("call_id", "sample", "stage", "parent", "fn_module", "fn_qualname", "fn_file", "fn_op", "mode",
                 "error_type", "error_message", "pid", "thread", "t_start", "t_end", "writer", "seq",
                 "has_error", "journal", "offset", "length")  # the last three: where its line is
_SKELETON_COLUMNS = ("sample", "stage", "t_start", "writer", "seq", "journal", "offset", "length")
_TENSOR_COLUMNS = ("call_row", "role_order", "position", "role", "name", "kind", "dtype", "shape", "min", "max",
                   "mean", "std", "nan_count", "inf_count", "hash", "hash_alg", "meta", "note", "payload", "value")
_INDEX_FROM_CALL = ("call_id", "sample", "stage", "occurrence", "parent", "fn_module", "fn_qualname", "fn_file",
                    "fn_op", "mode", "error_type", "error_message", "pid", "thread", "t_start", "t_end")


class _Unsure(Exception):
    """pyarrow's reading of a chunk cannot be vouched for: parse it line by line."""


def run_index(run, follower=None):
    """``(table, summary)`` of a reader ``Run``: ``journal_index`` of its directory; should that meet a
    journal it did not foresee, the table is built from the ``Run``'s parsed calls (slower, same table)
    and the summary is None. ``follower``: see ``read_journals``."""
    try:
        return journal_index(run.path, run.side, follower)
    except (ValueError, TypeError, OverflowError, ArithmeticError, NotImplementedError):  # Arrow* errors too
        return schema.index_table(run), None


def journal_index(path, side, follower=None):
    """``(table, summary)`` of run ``path``: its index table and what ``bmtrace show`` needs beyond it.

    summary: {"torn_lines", "problems" (strings, as ``Run.problems``), "samples" (distinct keys),
    "stages": [{"stage", "calls", "samples", "errors"}] in first-call order}.
    """
    read = list(read_journals(path, follower=follower))
    problems, torn = read[2], read[3]
    table, calls = _assemble(read, side, path)  # it drops the tables read as soon as it has sorted them
    return table, _summary(calls, problems, torn)


def call_skeleton(path):
    """The calls of run ``path`` in recording order, without their tensors, for a lazy ``Run``.

    Returns:
        ``(columns, problems, torn, journals)``: columns {"sample", "stage", "occurrence", "journal",
        "offset", "length"} as lists (journal: index into ``journals``, offset/length: its line's bytes);
        problems as ``(file, line or None, message)``.
    """
    calls, _, problems, torn, journals = read_journals(path, tensors=False)
    calls = _sorted_calls(calls)
    columns = {name: calls[name].to_pylist() for name in ("sample", "stage", "journal", "offset", "length")}
    columns["occurrence"] = _occurrences(calls).tolist()
    return columns, problems, torn, journals


def read_journals(path, tensors=True, follower=None):
    """``(calls, tensors, problems, torn, journals)``: normalised tables in journal order, ``tensors``
    None unless asked for.

    follower: an ``index_ahead.Follower``: the tables it parsed of its journal while the run recorded
    are taken instead of parsing them again (the rest of that journal is parsed here).
    """
    calls, tensor_tables, problems, torn, journals = [], [], [], 0, []
    call_base = 0
    for journal in sorted(glob.glob(os.path.join(path, layout.JOURNAL_DIR, "*.jsonl"))):
        name = os.path.relpath(journal, path)
        state = {"torn": 0}
        journals.append(journal)
        number = len(journals) - 1
        prefix = follower.prefix(journal) if follower is not None and tensors else None
        parsed, start = [], (0, 1)
        if prefix is not None:  # parsed while the run recorded
            parsed, start, prefix_problems = prefix
            problems.extend((name, line, message) for line, message in prefix_problems)
        try:
            rest = _journal_chunks(journal, name, problems, state, tensors, start)
            for call_table, tensor_table in itertools.chain(parsed, rest):
                call_table = _located(call_table, number)
                if tensors:
                    call_row = pc.add(tensor_table["call_row"], aa.scalar(call_base, pa.int64()))
                    tensor_tables.append(tensor_table.set_column(0, "call_row", call_row))
                else:
                    call_table = call_table.select(_SKELETON_COLUMNS)
                calls.append(call_table)
                call_base += call_table.num_rows
        except OSError as exc:
            problems.append((name, None, "cannot read this journal (%s); its records are skipped"
                             % (exc.strerror or exc)))
        finally:
            torn += state["torn"]  # records read before an error are kept, as Run keeps them
    call_types, tensor_types = _column_types(pa)
    columns = _CALL_COLUMNS if tensors else _SKELETON_COLUMNS
    calls = _concat(pa, calls, columns, call_types)
    tensor_table = _concat(pa, tensor_tables, _TENSOR_COLUMNS, tensor_types) if tensors else None
    return calls, tensor_table, problems, torn, journals


def _journal_chunks(journal, name, problems, state, texts=True, start=(0, 1)):
    """Normalised (calls, tensors) tables of one journal from ``start`` (offset, line number), chunk by
    chunk; state["torn"]: its torn lines."""
    with open(journal, "rb") as f:
        offset, first_line = start
        while True:
            chunk = next_chunk(f, offset, first_line, name, problems, texts)
            if chunk is None:
                # the end: a last line without newline is a record cut short by a kill: skipped, counted
                f.seek(offset)
                state["torn"] = 1 if f.read(1) else 0
                return
            calls, tensors, offset, first_line = chunk
            yield calls, tensors


def next_chunk(f, offset, first_line, name, problems, texts=True, size=CHUNK_BYTES):
    """The tables of the complete lines of the journal open as ``f`` from ``offset`` (line number
    ``first_line``), about ``size`` bytes of them: ``(calls, tensors, next offset, next line number)``, or
    None when no complete line is left. Call rows are the chunk's own and the journal column is 0.

    A chunk is a read of ``size`` up to its last newline; the next read starts after it (re-reading
    the partial line costs less than copying the chunk to cut it)."""
    while True:
        f.seek(offset)
        block = f.read(size)
        ends = _newlines(block)
        if len(ends):
            break
        if len(block) < size:
            return None
        size *= 2  # a line longer than a chunk: read more of it
    cut = int(ends[-1]) + 1
    try:
        calls, tensors = _fast_chunk(block, cut, ends, offset, texts)
    except _Unsure:
        calls, tensors = _careful_chunk(block[:cut], name, first_line, problems, offset)
    return calls, tensors, offset + cut, first_line + len(ends)


def _newlines(block):
    """The offsets of the newlines of ``block`` as int64 (bytes.find: memchr from one to the next, twice as
    fast as numpy's compare-all for lines of 500 bytes and more, which journal lines are)."""
    found, find = [], block.find
    at = find(b"\n")
    while at >= 0:
        found.append(at)
        at = find(b"\n", at + 1)
    return np.array(found, dtype=np.int64)


def _located(calls, number):
    """The journal's number in the "journal" column (``next_chunk`` leaves it 0)."""
    return calls.set_column(calls.schema.get_field_index("journal"), "journal",
                            aa.from_numpy(np.full(calls.num_rows, number, dtype=np.int32)))


# -- the careful way: schema.parse_line, as Run reads ---------------------------------------------
def _careful_chunk(data, name, first_line, problems, offset):
    calls = {column: [] for column in _CALL_COLUMNS}
    tensors = {column: [] for column in _TENSOR_COLUMNS}
    row = 0
    for number, line in enumerate(data.split(b"\n")[:-1], first_line):
        line_offset, offset = offset, offset + len(line) + 1
        try:
            record = schema.parse_line(line + b"\n")  # with its newline, as Run reads it (error texts)
        except schema.RecordError as exc:
            problems.append((name, number, "not a valid record, skipped: %s" % exc))
            continue
        fn = record["function"] or {}
        error = record["error"] or {}
        values = (record["id"], record["sample"], record["stage"], record["parent"], _text(fn.get("module")),
                  _text(fn.get("qualname")), _text(fn.get("file")), _text(fn.get("op")), record["mode"], _text(error.get("type")),
                  _text(error.get("message")), record["pid"], record["thread"], record["t_start"],
                  record["t_end"], record["writer"], record["seq"], bool(record["error"]), 0, line_offset,
                  len(line) + 1)
        for column, value in zip(_CALL_COLUMNS, values):
            calls[column].append(value)
        call_alg = record["hash_alg"] or schema.LEGACY_HASH_ALG
        for role_order, role in enumerate(("inputs", "outputs")):
            for position, entry in enumerate(record[role]):
                kind = entry["kind"]
                values = (row, role_order, position, entry["role"], entry["name"], kind, entry["dtype"],
                          entry["shape"], _float(entry["min"]), _float(entry["max"]), _float(entry["mean"]),
                          _float(entry["std"]), entry["nan_count"], entry["inf_count"], entry["hash"],
                          (entry["hash_alg"] or call_alg) if entry["hash"] else None,
                          json.dumps(entry["meta"], sort_keys=True, default=str), entry["note"], entry["payload"],
                          None if schema.keeps_payload(kind) else json.dumps(entry["value"], default=str))
                for column, value in zip(_TENSOR_COLUMNS, values):
                    tensors[column].append(value)
        row += 1
    call_types, tensor_types = _column_types(pa)
    return (pa.table([_array(calls[c], call_types[c]) for c in _CALL_COLUMNS], names=list(_CALL_COLUMNS)),
            pa.table([_array(tensors[c], tensor_types[c]) for c in _TENSOR_COLUMNS], names=list(_TENSOR_COLUMNS)))


def _array(values, typ):
    try:
        return aa.from_pylist(values, typ)
    except UnicodeEncodeError:
        if typ != pa.string():
            raise
        # lone surrogates (undecodable file names) are not UTF-8: store them as \udcXX escapes
        return aa.strings([v if v is None else schema.safe_text(v) for v in values])


def _text(value):
    return value if value is None or isinstance(value, str) else str(value)


def _float(value):
    return float(value) if type(value) in (int, float) else None


# -- the fast way: pyarrow's JSON reader, taken only when its types vouch for every line -----------
def _fast_chunk(block, cut, ends, start, texts=True):
    """The tables of the lines of ``block[:cut]`` (``ends``: their newlines; ``start``: the journal offset
    of the block)."""
    view = np.frombuffer(block, dtype=np.uint8, count=cut)
    # every line one object ("{...}"), no carriage return: pyarrow and json.loads split lines alike
    if (view[0] != 123 or np.any(view[ends[:-1] + 1] != 123) or np.any(view[ends - 1] != 125)
            or block.find(b"\r", 0, cut) >= 0):
        raise _Unsure()
    values_from_lines = False
    try:
        table = _read_json(pa.py_buffer(block).slice(0, cut))
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        # Most often scalar values of several types (an int input here, a str there) or container paths
        # ([["key", "boxes"], ["index", 0]]): pyarrow wants one type per field. Without them (scalar
        # values nulled, lists of flat lists emptied: any "value"/"path" key, at any depth) the rest may
        # still read, and the values come from the lines (the index holds no path).
        values_from_lines = True
        try:
            table = _read_json(pa.py_buffer(_PATH.sub(b'"path": []', _SCALAR_VALUE.sub(b'"value": null', block[:cut]))))
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            raise _Unsure() from None
    if table.num_rows != len(ends):
        raise _Unsure()  # a blank line: json.loads refuses it, pyarrow skips it
    try:
        starts = np.concatenate(([0], ends[:-1] + 1))
        return _fast_columns(pa, table, start + starts, ends + 1 - starts,
                             _LineReader(block, starts, texts), values_from_lines)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError, OverflowError):
        raise _Unsure() from None


# JSON scalars exactly as json.loads accepts them (what is substituted away must have been valid): an
# ASCII string with valid escapes, a number, a constant
_SCALAR = (rb'(?:"(?:[^"\\\x00-\x1f\x80-\xff]|\\["\\/bfnrt]|\\u[0-9a-fA-F]{4})*"'
           rb'|-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?(?![0-9.eE+-])'
           rb'|true|false|null|NaN|-?Infinity)')
_SCALAR_VALUE = re.compile(rb'"value": ' + _SCALAR)
_STEP = rb'\[(?:' + _SCALAR + rb'(?:, ' + _SCALAR + rb')*)?\]'  # a list of scalars
_PATH = re.compile(rb'"path": \[(?:' + _STEP + rb'(?:, ' + _STEP + rb')*)?\]')


def _read_json(buffer):
    return pj.read_json(pa.BufferReader(buffer), read_options=pj.ReadOptions(block_size=1 << 22))


class _LineReader:
    """json.loads of a chunk's line, for the few fields whose JSON text pyarrow's types cannot give back."""

    def __init__(self, data, starts, wanted=True):
        self.data, self.starts, self.parsed = data, starts, {}
        self.wanted = wanted  # False: only the checks matter (call_skeleton), not the index's text

    def entry(self, row, role, position):
        obj = self.parsed.get(row)
        if obj is None:
            start = self.starts[row]
            obj = self.parsed[row] = json.loads(self.data[start:self.data.index(b"\n", start)])
        return obj[role][position]


def _fast_columns(pa, table, offsets, lengths, lines, values_from_lines=False):
    n = table.num_rows
    fields = {name: table.column(name).combine_chunks() for name in table.column_names}  # pyarrow: a batch per 4 MB
    call_types, tensor_types = _column_types(pa)

    def get(name, kinds, typ, required=False):
        return _checked(pa, fields.get(name), kinds, typ, n, required)

    function = _struct_fields(pa, fields.get("function"), n)
    error_arr = fields.get("error")
    error = _struct_fields(pa, error_arr, n)
    if not _is_struct_or_null(pa, fields.get("meta")):
        raise _Unsure()
    mode = get("mode", "str", pa.string())
    if not _only(pc, mode, schema.MODES):
        raise _Unsure()
    calls = {
        "call_id": get("id", "str", pa.string(), True), "sample": get("sample", "str", pa.string()),
        "stage": get("stage", "str", pa.string(), True), "parent": get("parent", "str", pa.string()),
        "fn_module": _checked(pa, function.get("module"), "str", pa.string(), n),
        "fn_qualname": _checked(pa, function.get("qualname"), "str", pa.string(), n),
        "fn_file": _checked(pa, function.get("file"), "str", pa.string(), n),
        "fn_op": _checked(pa, function.get("op"), "str", pa.string(), n),  # another type: str() of it, carefully
        "mode": pc.fill_null(mode, aa.scalar("full", pa.string())),
        "error_type": _checked(pa, error.get("type"), "str", pa.string(), n),
        "error_message": _checked(pa, error.get("message"), "str", pa.string(), n),
        "pid": get("pid", "int", pa.int64()), "thread": get("thread", "str", pa.string()),
        "t_start": get("t_start", "num", pa.float64(), True), "t_end": get("t_end", "num", pa.float64()),
        "writer": pc.fill_null(get("writer", "str", pa.string()), aa.scalar("", pa.string())),
        "seq": pc.fill_null(get("seq", "int", pa.int64()), aa.scalar(0, pa.int64())),
        "has_error": _error_truth(pa, error_arr, error, n),
        "journal": pa.nulls(n, pa.int32()), "offset": aa.from_numpy(offsets.astype(np.int64)),
        "length": aa.from_numpy(lengths.astype(np.int64)),
    }
    call_alg = get("hash_alg", "str", pa.string())
    call_alg = pc.if_else(_nonempty(pc, call_alg), call_alg, aa.scalar(schema.LEGACY_HASH_ALG, pa.string()))
    parts = [_fast_tensors(pa, fields.get(role), role_order, call_alg, tensor_types, lines, values_from_lines)
             for role_order, role in enumerate(("inputs", "outputs"))]
    tensors = pa.concat_tables(parts)
    if lines.wanted:  # (a read for the calls alone drops the tensors)
        tensors = _in_call_order(tensors)
    return (pa.table([_as(calls[c], call_types[c]) for c in _CALL_COLUMNS], names=list(_CALL_COLUMNS)), tensors)


def _in_call_order(tensors):
    """A chunk's tensors call by call, inputs then outputs, as the index lists them (pyarrow flattens all
    the chunk's inputs, then all its outputs). Ordered here, chunk by chunk, most of a run's tensors are
    ordered by the process that follows the journal while the run records, not by stop(): taking 600,000
    rows in order there took 0.45 s."""
    order = np.lexsort((aa.to_numpy(tensors["position"]), aa.to_numpy(tensors["role_order"]),
                        aa.to_numpy(tensors["call_row"])))
    return _take(tensors, order)


def _fast_tensors(pa, lists, role_order, call_alg, tensor_types, lines, values_from_lines):
    empty = pa.table([pa.nulls(0, tensor_types[c]) for c in _TENSOR_COLUMNS], names=list(_TENSOR_COLUMNS))
    if lists is None or pa.types.is_null(lists.type):
        return empty
    if not pa.types.is_list(lists.type):
        raise _Unsure()
    entries = lists.flatten()
    if pa.types.is_null(entries.type):
        if len(entries):
            raise _Unsure()  # [null]: not a tensor object
        return empty
    if not pa.types.is_struct(entries.type) or entries.null_count:
        raise _Unsure()
    m = len(entries)
    call_row = pc.list_parent_indices(lists)
    starts = pc.take(lists.offsets, call_row)
    position = pc.subtract(aa.from_numpy(np.arange(m, dtype=np.int32)), starts.cast(pa.int32()))
    field = dict(zip([entries.type.field(i).name for i in range(entries.type.num_fields)], entries.flatten()))

    def get(name, kinds, typ, required=False):
        return _checked(pa, field.get(name), kinds, typ, m, required)

    role = get("role", "str", pa.string())
    expected = schema.ROLES[role_order]  # an entry's role is its list's (schema.parse_call)
    if not _only(pc, role, (expected,)):
        raise _Unsure()
    role = role.fill_null(aa.scalar(expected, pa.string()))
    for name in ("container", "py_type"):
        get(name, "str", pa.string())
    stats_sample = get("stats_sample", "int", pa.int64())  # a count (schema.parse_tensor)
    if len(stats_sample) and (pc.min(stats_sample).as_py() or 0) < 0:
        raise _Unsure()
    for name in ("sketch",):
        if not _is_struct_or_null(pa, field.get(name)):
            raise _Unsure()
    _check_path(pa, field.get("path"))
    role_key = ("inputs", "outputs")[role_order]

    def from_lines(rows, field_name, **dumps):
        """JSON text of ``field_name`` of the tensors at ``rows``, from their lines."""
        if not lines.wanted:
            return {}
        call_rows, positions = aa.to_numpy(call_row), aa.to_numpy(position)
        return {j: json.dumps(lines.entry(call_rows[j], role_key, positions[j]).get(field_name), **dumps) for j in rows}

    meta = field.get("meta")
    if meta is None or pa.types.is_null(meta.type) or (pa.types.is_struct(meta.type) and meta.type.num_fields == 0):
        meta_text = aa.repeat("{}", m)  # every meta {} or null (read as {})
    elif pa.types.is_struct(meta.type):
        # keys and values of a non-empty meta (or {} against {"k": null}) are not in the struct: its lines say
        texts = from_lines(np.flatnonzero(aa.to_numpy(meta.is_valid())), "meta", sort_keys=True,
                           default=str)
        meta_text = aa.strings([texts.get(j, "{}") for j in range(m)])
    else:
        raise _Unsure()
    kind = pc.fill_null(get("kind", "str", pa.string()), aa.scalar("array", pa.string()))
    hashes = get("hash", "str", pa.string())
    own_alg = get("hash_alg", "str", pa.string())
    alg = pc.if_else(_nonempty(pc, own_alg), own_alg, pc.take(call_alg, call_row))
    zero = aa.scalar(0, pa.int64())
    counts = [pc.fill_null(get(name, "int", pa.int64()), zero) for name in ("nan_count", "inf_count")]
    if any(len(c) and pc.min(c).as_py() < 0 for c in counts):
        raise _Unsure()
    columns = {
        "call_row": call_row.cast(pa.int64()), "role_order": aa.from_numpy(np.full(m, role_order, dtype=np.int8)),
        "position": position.cast(pa.int64()), "role": role, "name": get("name", "str", pa.string(), True),
        "kind": kind, "dtype": get("dtype", "str", pa.string()), "shape": _shape(pa, field.get("shape"), m),
        "min": get("min", "num", pa.float64()), "max": get("max", "num", pa.float64()),
        "mean": get("mean", "num", pa.float64()), "std": get("std", "num", pa.float64()),
        "nan_count": counts[0], "inf_count": counts[1], "hash": hashes,
        "hash_alg": pc.if_else(_nonempty(pc, hashes), alg, aa.scalar(None, pa.string())),
        "meta": meta_text, "note": get("note", "str", pa.string()),
        "payload": get("payload", "str", pa.string()),
        "value": _values(pa, None if values_from_lines else field.get("value"), kind, m,
                         lambda rows: from_lines(rows, "value", default=str), values_from_lines),
    }
    return pa.table([_as(columns[c], tensor_types[c]) for c in _TENSOR_COLUMNS], names=list(_TENSOR_COLUMNS))


_KINDS = {"str": ("string",), "int": ("int64",), "num": ("int64", "double")}


def _checked(pa, arr, kinds, typ, n, required=False):
    """``arr`` (None: the field never occurs) as ``typ``, if its inferred type is one the field allows."""
    if arr is None or pa.types.is_null(arr.type):
        if required and n:
            raise _Unsure()
        return pa.nulls(n, typ)
    if str(arr.type) not in _KINDS[kinds] or (required and arr.null_count):
        raise _Unsure()
    return _as(arr, typ)


def _as(arr, typ):
    """``arr`` cast to ``typ`` (most columns already are: a cast of each is 5% of a build)."""
    return arr if arr.type == typ else arr.cast(typ)


def _struct_fields(pa, arr, n):
    """An object field's children by name ({} when never present); _Unsure unless always an object."""
    if arr is None or pa.types.is_null(arr.type):
        return {}
    if not pa.types.is_struct(arr.type):
        raise _Unsure()
    names = [arr.type.field(i).name for i in range(arr.type.num_fields)]
    return dict(zip(names, arr.flatten()))  # flatten(): a null object's children are null


def _is_struct_or_null(pa, arr):
    return arr is None or pa.types.is_null(arr.type) or pa.types.is_struct(arr.type)


def _error_truth(pa, arr, children, n):
    """Whether each call's "error" is a non-empty object (``Run`` counts ``if call.error``)."""
    if arr is None or pa.types.is_null(arr.type) or not children:
        return aa.from_numpy(np.zeros(n, dtype=bool))
    valid = arr.is_valid()
    any_child = children and None
    for child in children.values():
        any_child = child.is_valid() if any_child is None else pc.or_(any_child, child.is_valid())
    if pc.any(pc.and_(valid, pc.invert(any_child))).as_py():
        raise _Unsure()  # {} (falsy) and {"type": null} (truthy) look alike here
    return valid


def _nonempty(pc, arr):
    """Python truthiness of an optional string: null and "" are false."""
    return pc.fill_null(pc.greater(pc.utf8_length(arr), aa.scalar(0, pa.int32())), aa.scalar(False, pa.bool_()))


def _only(pc, arr, allowed):
    """Whether every present value of ``arr`` is one of ``allowed``."""
    present = arr.drop_null()
    return not len(present) or pc.all(pc.is_in(present, value_set=aa.strings(list(allowed)))).as_py()


def _list_items(pa, arr):
    """The items of list column ``arr`` (null-typed when every list is empty), or None when the column
    is absent; _Unsure when it is not a list column or a null-typed column has items."""
    if arr is None or pa.types.is_null(arr.type):
        return None
    if not pa.types.is_list(arr.type):
        raise _Unsure()
    items = arr.flatten()
    if pa.types.is_null(items.type) and len(items):
        raise _Unsure()
    return items


def _shape(pa, arr, m):
    typ = pa.list_(pa.int64())
    dims = _list_items(pa, arr)
    if dims is None:
        return pa.nulls(m, typ)
    if pa.types.is_null(dims.type):
        return arr.cast(typ)
    if str(dims.type) != "int64" or dims.null_count or (len(dims) and pc.min(dims).as_py() < 0):
        raise _Unsure()
    return arr


def _check_path(pa, arr):
    """"path" must be a list of lists (``schema._is_path``)."""
    steps = _list_items(pa, arr)
    if steps is not None and not pa.types.is_null(steps.type) and (
            not pa.types.is_list(steps.type) or steps.null_count):
        raise _Unsure()


def _values(pa, arr, kind, m, from_lines, all_from_lines=False):
    """The index's "value": JSON text of a journal-held value, null for payload kinds.

    ``from_lines(rows)``: the JSON text of the values of those rows, from their lines."""
    payload_kind = pc.is_in(kind, value_set=aa.strings(list(schema.PAYLOAD_KINDS)))
    if all_from_lines:
        texts = from_lines(np.flatnonzero(aa.to_numpy(pc.invert(payload_kind))))
        text = aa.strings([texts.get(j, "null") for j in range(m)])
    elif arr is None or pa.types.is_null(arr.type):
        text = aa.repeat("null", m)
    else:
        typ = str(arr.type)
        if typ == "int64":
            text = pc.fill_null(arr.cast(pa.string()), aa.scalar("null", pa.string()))
        elif typ == "bool":
            text = pc.fill_null(pc.if_else(arr, aa.scalar("true", pa.string()), aa.scalar("false", pa.string())),
                                aa.scalar("null", pa.string()))
        elif typ == "string":
            text = aa.strings([json.dumps(v) for v in arr.to_pylist()])
        else:
            # 1 or 1.0 (pyarrow made both a double)? a list, an object? the lines say
            keep = aa.to_numpy(pc.invert(payload_kind))
            texts = from_lines(np.flatnonzero(keep)) if typ != "double" else {}
            if typ == "double":
                values = arr.to_pylist()
                ambiguous = [j for j, v in enumerate(values)
                             if keep[j] and v is not None and math.isfinite(v) and v == int(v)]
                texts = from_lines(ambiguous)
                texts.update((j, json.dumps(v)) for j, v in enumerate(values) if keep[j] and j not in texts)
            text = aa.strings([texts.get(j, "null") for j in range(m)])
    return pc.if_else(payload_kind, aa.scalar(None, pa.string()), text)


# -- putting the chunks together ------------------------------------------------------------------
def _column_types(pa):
    s, i, f = pa.string(), pa.int64(), pa.float64()
    call = dict(zip(_CALL_COLUMNS, (s, s, s, s, s, s, s, s, s, s, s, i, s, f, f, s, i, pa.bool_(), pa.int32(), i, i)))
    tensor = dict(zip(_TENSOR_COLUMNS, (i, pa.int8(), i, s, s, s, s, pa.list_(i), f, f, f, f, i, i, s, s, s, s,
                                        s, s)))
    return call, tensor


def chunk_schemas():
    """The schemas of ``next_chunk``'s (calls, tensors) tables."""
    call_types, tensor_types = _column_types(pa)
    return (pa.schema([(column, call_types[column]) for column in _CALL_COLUMNS]),
            pa.schema([(column, tensor_types[column]) for column in _TENSOR_COLUMNS]))


def _concat(pa, tables, columns, types):
    # chunks left as they are: _assemble makes each column it writes one array, so combining them here
    # too copied every row once more (0.3 s of a 100k-sample stop())
    if not tables:
        return pa.table([pa.nulls(0, types[c]) for c in columns], names=list(columns))  # no calls
    return pa.concat_tables(tables)


def _sort_order(calls):
    """Recording order (``schema.sort_key``): a stable sort, as ``sorted``."""
    if np.isnan(aa.to_numpy(calls["t_start"])).any():
        raise ValueError("a NaN start time: Python's sort decides the order")  # callers fall back
    return pc.sort_indices(calls, sort_keys=[("t_start", "ascending"), ("writer", "ascending"), ("seq", "ascending")])


def _sorted_calls(calls):
    return calls.take(_sort_order(calls))


def _relative(journal, run_path):
    return os.path.relpath(journal, run_path).replace(os.sep, "/")


def _assemble(read, side, path):
    """Sort the calls into recording order, number occurrences, order the tensors.

    ``read``: the list ``read_journals`` returned; its tables are dropped from it once sorted copies
    exist, so a build holds about one copy of the rows at a time.
    """
    calls, tensors, journals = read[0], read[1], read[4]
    read[0] = read[1] = None
    order = aa.to_numpy(_sort_order(calls))
    calls = _take(calls, order)
    calls = calls.append_column("occurrence", aa.from_numpy(_occurrences(calls)))
    rank = np.empty(len(order), dtype=np.int64)
    rank[order] = np.arange(len(order))
    call_row = aa.to_numpy(tensors["call_row"])
    tensors = _take(tensors, np.lexsort((aa.to_numpy(tensors["position"]), aa.to_numpy(tensors["role_order"]),
                                         rank[call_row] if len(call_row) else call_row)))
    del call_row
    head = calls.select([c for c in calls.column_names if c in _INDEX_FROM_CALL or c in ("journal", "offset")])
    head = head.take(aa.from_numpy(rank[aa.to_numpy(tensors["call_row"])] if tensors.num_rows else
                                   np.zeros(0, dtype=np.int64)))
    types = {"string": pa.string(), "int64": pa.int64(), "float64": pa.float64(), "int64_list": pa.list_(pa.int64())}
    arrays = []
    for column, typ in schema.INDEX_COLUMNS:
        if column == "run_side":
            arrays.append(aa.repeat(side, tensors.num_rows))
        elif column == "journal":  # the journal's run-relative path, from its number
            names = _array([_relative(journal, path) for journal in journals], pa.string())
            arrays.append(names.take(head["journal"].combine_chunks()) if tensors.num_rows else
                          pa.nulls(0, pa.string()))
        elif column == "journal_offset":
            arrays.append(_as(head["offset"].combine_chunks(), pa.int64()))
        elif column in _INDEX_FROM_CALL:
            arrays.append(_as(head[column].combine_chunks(), types[typ]))
        else:
            arrays.append(_as(tensors[column].combine_chunks(), types[typ]))
    index_schema = pa.schema([pa.field(column, types[typ]) for column, typ in schema.INDEX_COLUMNS])
    return pa.Table.from_arrays(arrays, schema=index_schema), calls


def _take(table, order):
    """The rows of ``table`` in ``order`` (numpy indices); ``table`` itself when that is its order (one
    journal written in recording order: a stats-mode run's calls and tensors)."""
    if np.array_equal(order, np.arange(len(order))):
        return table
    return table.take(aa.from_numpy(order))


def _occurrences(calls):
    """Each call's number among the calls of its (sample, stage) before it, in table order, as int64 (numpy: a
    Python loop took 0.3 s at 300,000 calls)."""
    stage = _codes(calls["stage"])
    key = _codes(calls["sample"]) * (int(stage.max(initial=0)) + 1) + stage
    order = np.argsort(key, kind="stable")
    grouped = key[order]
    first = np.flatnonzero(np.concatenate(([True], grouped[1:] != grouped[:-1])))  # where each key's run starts
    out = np.empty(len(key), dtype=np.int64)
    out[order] = np.arange(len(key)) - np.repeat(first, np.diff(np.append(first, len(key))))
    return out


def _codes(column):
    """int64 codes of a string column's values in first-seen order, null its own code (after the rest)."""
    return _encoded(column)[0]


def _encoded(column):
    """``(codes, values)``: ``_codes`` of ``column`` and the value of each code (None: null's)."""
    encoded = column.combine_chunks().dictionary_encode()
    null_code = aa.scalar(len(encoded.dictionary), encoded.indices.type)
    return (aa.to_numpy(pc.fill_null(encoded.indices, null_code)).astype(np.int64),
            encoded.dictionary.to_pylist() + [None])


def _summary(calls, problems, torn):
    """What ``bmtrace show`` counts per stage, from the calls in recording order (numpy: a Python loop
    over the calls took 0.25 s at 90,000 calls)."""
    stage, stages = _encoded(calls["stage"])
    sample = _codes(calls["sample"])
    has_error = aa.to_numpy(calls["has_error"])
    k = len(stages)
    counts = np.bincount(stage, minlength=k)
    errors = np.bincount(stage[has_error], minlength=k)
    samples = np.bincount(_distinct(sample * k + stage) % k, minlength=k)
    present, first = np.unique(stage, return_index=True)
    problems = [("%s: %s" % (name, message)) if line is None else ("%s line %d: %s" % (name, line, message))
                for name, line, message in problems]  # as str(RunProblem)
    return {"torn_lines": torn, "problems": problems, "samples": len(_distinct(sample)),
            "stages": [{"stage": stages[code], "calls": int(counts[code]), "samples": int(samples[code]),
                        "errors": int(errors[code])} for code in present[np.argsort(first)].tolist()]}


def _distinct(values):
    """The distinct values of an int64 array (sorting: numpy's unique hashes them, 40x slower)."""
    values = np.sort(values)
    return values[np.concatenate(([True], values[1:] != values[:-1]))] if len(values) else values
