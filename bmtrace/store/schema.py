"""The call and tensor records: fields, kinds, journal line <-> record, and the Parquet columns.

A journal line is one JSON object per completed stage call. Everything read back from a run is
untrusted: ``parse_call`` checks every field's type and returns a record with every field present,
or raises ``RecordError`` saying which field is wrong. Adding a field means one entry in
``CALL_FIELDS`` or ``TENSOR_FIELDS`` (and a Parquet column when it should be queryable).

Stdlib only: the writer imports this on the recording path (Python 3.8, numpy + wrapt).
"""
from __future__ import annotations

import json
import re

# -- tensor kinds ---------------------------------------------------------------------------------
# "array" and "bytes" (a uint8 array) keep their values in a .npy payload; "scalar" keeps its value in
# the journal but compares numerically; the others are plain values compared by equality.
PAYLOAD_KINDS = ("array", "bytes")
ARRAY_KINDS = PAYLOAD_KINDS + ("scalar",)
PLAIN_KINDS = ("none", "str", "object")
KINDS = ARRAY_KINDS + PLAIN_KINDS

MODES = ("full", "stats")
ROLES = ("input", "output")

# Content hashes written before the algorithm was recorded are SHA-1 based.
LEGACY_HASH_ALG = "sha1"


def is_array(kind):
    """Arrays, bytes (recorded as uint8 arrays) and numeric scalars compare numerically."""
    return kind in ARRAY_KINDS


def keeps_payload(kind):
    """Kinds whose values are stored as .npy payloads rather than in the journal line."""
    return kind in PAYLOAD_KINDS


class RecordError(ValueError):
    """A journal line is not a valid record; the message names the field."""


# -- field types ----------------------------------------------------------------------------------
# A field's check is a set of exact JSON types (bool is not an int here) plus, for a few fields, a
# further test of the value; both are cheap, since every line of every journal goes through them.
_STR = ({str}, None, "a string")
_INT = ({int}, None, "an integer")
_COUNT = ({int}, lambda v: v >= 0, "a non-negative integer")
_NUMBER = ({int, float}, None, "a number")
_DICT = ({dict}, None, "an object")
_LIST = ({list}, None, "a list")
def _is_shape(value):
    for dim in value:  # a loop, not all(genexpr): this runs for every tensor of every journal line
        if type(dim) is not int or dim < 0:
            return False
    return True


def _is_path(value):
    for step in value:
        if type(step) is not list:
            return False
    return True


_SHAPE = ({list}, _is_shape, "a list of non-negative integers")
_ANY = (None, None, "anything")
_MODE = ({str}, lambda v: v in MODES, "one of %s" % ", ".join(MODES))
_ROLE = ({str}, lambda v: v in ROLES, "one of %s" % ", ".join(ROLES))
_PATH = ({list}, _is_path, "a list of lists")

# name: (check, default when absent, required)
CALL_FIELDS = {
    "id": (_STR, None, True),
    "stage": (_STR, None, True),
    "t_start": (_NUMBER, None, True),
    "t_end": (_NUMBER, None, False),
    "seq": (_INT, 0, False),
    "writer": (_STR, "", False),
    "pid": (_INT, None, False),
    "thread": (_STR, None, False),
    "sample": (_STR, None, False),
    "parent": (_STR, None, False),
    "function": (_DICT, None, False),
    "mode": (_MODE, "full", False),
    "error": (_DICT, None, False),
    "meta": (_DICT, None, False),
    "hash_alg": (_STR, None, False),
    "inputs": (_LIST, None, False),
    "outputs": (_LIST, None, False),
}

TENSOR_FIELDS = {
    "name": (_STR, None, True),
    "role": (_ROLE, None, False),
    "kind": (_STR, "array", False),
    "dtype": (_STR, None, False),
    "shape": (_SHAPE, None, False),
    "min": (_NUMBER, None, False),
    "max": (_NUMBER, None, False),
    "mean": (_NUMBER, None, False),
    "std": (_NUMBER, None, False),
    "nan_count": (_COUNT, 0, False),
    "inf_count": (_COUNT, 0, False),
    "hash": (_STR, None, False),
    "hash_alg": (_STR, None, False),
    "meta": (_DICT, None, False),
    "note": (_STR, None, False),
    "payload": (_STR, None, False),
    "value": (_ANY, None, False),
    "path": (_PATH, None, False),
    "container": (_STR, None, False),
    "py_type": (_STR, None, False),
    "sketch": (_DICT, None, False),  # stats mode: sampled values (bmtrace.codecs.sketch)
    "stats_sample": (_COUNT, None, False),  # stats mode: mean/std taken over this many elements
}


class _Checks:
    """A field table ready for parsing: each field's check by name, the defaults in field order, and
    the required names."""

    def __init__(self, fields):
        self.by_name = {name: check for name, (check, _, _) in fields.items()}
        self.defaults = {name: default for name, (_, default, _) in fields.items()}
        self.required = tuple(name for name, (_, _, required) in fields.items() if required)


def _compiled(fields):
    return _Checks(fields)


_CALL_CHECKS = _compiled(CALL_FIELDS)
_TENSOR_CHECKS = _compiled(TENSOR_FIELDS)


def _describe(value):
    text = json.dumps(value, default=repr)
    if len(text) > 40:
        text = text[:37] + "..."
    return "%s %s" % (type(value).__name__ if value is not None else "null", text)


def _parse_fields(obj, checks, what):
    if type(obj) is not dict:
        raise RecordError("%s must be a JSON object, got %s" % (what, _describe(obj)))
    # The fields present, not every known field: lines hold about two thirds of them. Unknown fields
    # are ignored, null ones take the default; the record keeps the table's field order.
    record = checks.defaults.copy()
    by_name = checks.by_name
    for name, value in obj.items():
        check = by_name.get(name)
        if check is None or value is None:
            continue
        types, test, expected = check
        if types is not None and (type(value) not in types or (test is not None and not test(value))):
            field = name if what == "the record" else "%s.%s" % (what, name)
            raise RecordError("field %r must be %s%s, got %s" % (
                field, expected, "" if name in checks.required else " or null", _describe(value)))
        record[name] = value
    for name in checks.required:
        if record[name] is None:
            raise RecordError("%s has no %r field" % (what, name))
    return record


def parse_call(obj):
    """A validated call record (every field present) from a decoded journal line.

    Raises:
        RecordError: a field is missing or of the wrong type.
    """
    record = _parse_fields(obj, _CALL_CHECKS, "the record")
    error = record["error"]
    if error is not None:
        for key in ("type", "message"):
            if error.get(key) is not None and type(error[key]) is not str:
                raise RecordError("field 'error.%s' must be a string or null, got %s" % (key, _describe(error[key])))
    if error is not None and not error:
        record["error"] = None  # an empty error object says nothing was raised
    if record["meta"] is None:
        record["meta"] = {}
    for role, expected in (("inputs", "input"), ("outputs", "output")):
        entries = record[role]
        record[role] = [_in_role(parse_tensor(entry, "%s[%d]" % (role, i)), expected, role, i)
                        for i, entry in enumerate(entries)] if entries else []
    return record


def _in_role(entry, expected, role, i):
    """An entry's role is the list it is in: a missing one is filled in, a contradicting one refused."""
    if entry["role"] is None:
        entry["role"] = expected
    elif entry["role"] != expected:
        raise RecordError("field '%s[%d].role' must be %r (the entry is in %s), got %r"
                          % (role, i, expected, role, entry["role"]))
    return entry


def parse_tensor(obj, where="tensor"):
    """A validated tensor entry (every field present); ``where`` names it in errors."""
    entry = _parse_fields(obj, _TENSOR_CHECKS, where)
    if entry["meta"] is None:
        entry["meta"] = {}
    path = entry["path"]
    entry["path"] = [tuple(step) for step in path] if path else []
    return entry


def parse_line(line):
    """Decode and validate one journal line (bytes, without or with its newline)."""
    return parse_call(decode_line(line))


def decode_line(line):
    """The JSON object of one journal line, not validated (``parse_call``, ``parse_tensor`` do that).

    Raises:
        RecordError: the line is not valid JSON.
    """
    fast = _fast_loads()
    if fast is not None and isinstance(line, bytes) and (
            _DIGIT_RUN not in line.translate(_DIGITS) or _INTEGER_RUN.search(line) is None):
        try:
            return fast(line)
        except ValueError:  # orjson's JSONDecodeError: json.loads decides, and words the error
            pass
    try:
        return json.loads(line)
    except ValueError as exc:
        raise RecordError("not valid JSON (%s)" % exc) from None


def parse_entry(obj, role, position):
    """The validated ``position``-th entry of ``role`` ("input"/"output") of a decoded line, None when
    the line has no such entry; only that entry is validated (a diff judging one tensor of a call).

    Raises:
        RecordError: the line is no JSON object, or the entry is malformed.
    """
    if type(obj) is not dict:
        raise RecordError("the record must be a JSON object, got %s" % _describe(obj))
    key = role + "s"
    entries = obj.get(key)
    if entries is None:
        return None
    if type(entries) is not list:
        raise RecordError("field %r must be a list or null, got %s" % (key, _describe(entries)))
    if position >= len(entries):
        return None
    return _in_role(parse_tensor(entries[position], "%s[%d]" % (key, position)), role, key, position)


def parse_call_meta(obj):
    """The validated call-level ``meta`` of a decoded line, as ``parse_call`` gives it ({} for null or
    missing); only that field is validated (a diff reading what a call declares of its predictions).

    Raises:
        RecordError: the line is no JSON object, or its meta is no object.
    """
    if type(obj) is not dict:
        raise RecordError("the record must be a JSON object, got %s" % _describe(obj))
    return _parse_fields({"meta": obj.get("meta")}, _CALL_META_CHECKS, "the record")["meta"] or {}


_CALL_META_CHECKS = _compiled({"meta": CALL_FIELDS["meta"]})


# orjson, when importable, decodes a journal line about 4x faster than json. It reads every valid
# line as json does except three cases: NaN/Infinity and lone surrogate escapes, which it refuses (json
# then decodes the line), and integers beyond 64 bits, which it turns into floats. Those need 19 or
# more digits in a row, not after a decimal point, so a line holding such a run is left to json. (The
# cheap test first: the fraction of a small float, 0.0004551004992226549, is such a run too.)
_DIGITS = bytes(48 if 48 <= i <= 57 else 32 for i in range(256))  # every digit as "0", the rest " "
_DIGIT_RUN = b"0" * 19
_INTEGER_RUN = re.compile(rb"(?<![.0-9])[0-9]{19}")
_orjson_loads = False  # not looked up yet


def _fast_loads():
    global _orjson_loads
    if _orjson_loads is False:
        try:
            from orjson import loads as _orjson_loads
        except ImportError:
            _orjson_loads = None
    return _orjson_loads


def line_encoder(default=None):
    """What ``call_line`` encodes with; build it once (json.dumps builds one per call)."""
    return json.JSONEncoder(default=default, allow_nan=True)


def call_line(record, encoder):
    """The journal line (bytes, newline-terminated) of a call record: ASCII JSON, so lone surrogates
    and any other text survive as escapes."""
    return (encoder.encode(record) + "\n").encode("ascii")


def sort_key(record):
    """Recording order across processes and threads."""
    return (record["t_start"], record["writer"], record["seq"])


# -- the Parquet index ----------------------------------------------------------------------------
# (column, type): "string", "int64", "float64" or "int64_list"; index.py maps them to pyarrow types.
INDEX_COLUMNS = (
    ("run_side", "string"), ("call_id", "string"), ("sample", "string"), ("stage", "string"),
    ("occurrence", "int64"), ("parent", "string"), ("fn_module", "string"), ("fn_qualname", "string"),
    ("fn_file", "string"), ("mode", "string"), ("error_type", "string"), ("error_message", "string"),
    ("pid", "int64"), ("thread", "string"), ("t_start", "float64"), ("t_end", "float64"),
    ("role", "string"), ("name", "string"), ("kind", "string"), ("dtype", "string"),
    ("shape", "int64_list"), ("min", "float64"), ("max", "float64"), ("mean", "float64"),
    ("std", "float64"), ("nan_count", "int64"), ("inf_count", "int64"), ("hash", "string"),
    ("hash_alg", "string"), ("meta", "string"), ("note", "string"), ("payload", "string"),
    ("value", "string"), ("journal", "string"), ("journal_offset", "int64"), ("fn_op", "string"),
)


def index_rows(run):
    """The index rows of a reader ``Run`` as tuples in ``INDEX_COLUMNS`` order, one per tensor; "journal"
    and "journal_offset" lead back to the call's line (``Call.location``)."""
    side = run.side
    for call in run.calls():
        fn = call.function or {}
        error = call.error or {}
        journal, offset = call.location or (None, None)
        op = fn.get("op")
        tail = (journal, offset, None if op is None else str(op))
        head = (side, call.id, call.sample, call.stage, call.occurrence, call.parent,
                _text_or_none(fn.get("module")), _text_or_none(fn.get("qualname")), _text_or_none(fn.get("file")),
                call.mode, _text_or_none(error.get("type")), _text_or_none(error.get("message")), call.pid,
                call.thread, call.t_start, call.t_end)
        for tensor in call.inputs + call.outputs:
            yield head + (
                tensor.role, tensor.name, tensor.kind, tensor.dtype,
                list(tensor.shape) if tensor.shape is not None else None,
                _float(tensor.min), _float(tensor.max), _float(tensor.mean), _float(tensor.std),
                tensor.nan_count, tensor.inf_count, tensor.hash, tensor.hash_alg if tensor.hash else None,
                json.dumps(tensor.meta, sort_keys=True, default=str), tensor.note, tensor.payload,
                None if keeps_payload(tensor.kind) else json.dumps(tensor.value, default=str)) + tail


# What safe_text's escapes start with: a column value holding it may stand for other text in the lines.
ESCAPE_MARK = "\\udc"


def safe_text(text):
    """``text`` as valid UTF-8 text: lone surrogates (undecodable file names) become \\udcXX escapes."""
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode("utf-8")


def _text_or_none(value):
    return value if value is None or isinstance(value, str) else str(value)


def _float(value):
    return float(value) if type(value) in (int, float) else None


def index_table(run):
    """Every tensor of a reader ``Run`` as a pyarrow Table with the ``INDEX_COLUMNS`` (needs pyarrow)."""
    from .._deps import require

    pa = require("pyarrow", extra="analysis", feature="the Parquet index")
    types = {"string": pa.string(), "int64": pa.int64(), "float64": pa.float64(),
             "int64_list": pa.list_(pa.int64())}
    rows = list(index_rows(run))
    columns = list(zip(*rows)) if rows else [()] * len(INDEX_COLUMNS)
    arrays = []
    for (column, typ), values in zip(INDEX_COLUMNS, columns):
        try:
            arrays.append(pa.array(values, type=types[typ]))
        except Exception:
            if typ != "string":
                raise
            # lone surrogates (undecodable file names) are not UTF-8: store them as \udcXX escapes
            arrays.append(pa.array([v if v is None else safe_text(v) for v in values], type=types[typ]))
    schema = pa.schema([pa.field(column, types[typ]) for column, typ in INDEX_COLUMNS])
    return pa.Table.from_arrays(arrays, schema=schema)
