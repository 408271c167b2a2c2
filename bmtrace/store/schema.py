"""The call and tensor records: fields, kinds, journal line <-> record, and the Parquet columns.

A journal line is one JSON object per completed stage call. Everything read back from a run is
untrusted: ``parse_call`` checks every field's type and returns a record with every field present,
or raises ``RecordError`` saying which field is wrong. Adding a field means one entry in
``CALL_FIELDS`` or ``TENSOR_FIELDS`` (and a Parquet column when it should be queryable).

Stdlib only: the writer imports this on the recording path (Python 3.8, numpy + wrapt).
"""
from __future__ import annotations

import json

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
def _is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _check(value, field, accepts, expected, optional=True):
    if value is None and optional:
        return None
    if not accepts(value):
        raise RecordError("field %r must be %s%s, got %s" % (field, expected, " or null" if optional else "",
                                                             _describe(value)))
    return value


def _describe(value):
    text = json.dumps(value, default=repr)
    if len(text) > 40:
        text = text[:37] + "..."
    return "%s %s" % (type(value).__name__ if value is not None else "null", text)


_STR = (lambda v: isinstance(v, str), "a string")
_INT = (_is_int, "an integer")
_COUNT = (lambda v: _is_int(v) and v >= 0, "a non-negative integer")
_NUMBER = (_is_number, "a number")
_DICT = (lambda v: isinstance(v, dict), "an object")
_LIST = (lambda v: isinstance(v, list), "a list")
_SHAPE = (lambda v: isinstance(v, list) and all(_is_int(d) and d >= 0 for d in v),
          "a list of non-negative integers")
_ANY = (lambda v: True, "anything")

# name: (type check, default when absent, required)
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
    "mode": ((lambda v: v in MODES, "one of %s" % ", ".join(MODES)), "full", False),
    "error": (_DICT, None, False),
    "meta": (_DICT, None, False),
    "hash_alg": (_STR, None, False),
    "inputs": (_LIST, None, False),
    "outputs": (_LIST, None, False),
}

TENSOR_FIELDS = {
    "name": (_STR, None, True),
    "role": ((lambda v: v in ROLES, "one of %s" % ", ".join(ROLES)), None, False),
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
    "path": ((lambda v: isinstance(v, list) and all(isinstance(s, list) for s in v), "a list of lists"),
             None, False),
    "container": (_STR, None, False),
    "py_type": (_STR, None, False),
}


def _parse_fields(obj, fields, what):
    if not isinstance(obj, dict):
        raise RecordError("%s must be a JSON object, got %s" % (what, _describe(obj)))
    record = {}
    for name, ((accepts, expected), default, required) in fields.items():
        value = obj.get(name)
        if value is None:
            if required:
                raise RecordError("%s has no %r field" % (what, name))
            record[name] = default
            continue
        record[name] = _check(value, name if what == "the record" else "%s.%s" % (what, name), accepts, expected)
    return record


def parse_call(obj):
    """A validated call record (every field present) from a decoded journal line.

    Raises:
        RecordError: a field is missing or of the wrong type.
    """
    record = _parse_fields(obj, CALL_FIELDS, "the record")
    if record["error"] is not None:
        error = record["error"]
        for key in ("type", "message"):
            _check(error.get(key), "error.%s" % key, *_STR)
    record["meta"] = record["meta"] or {}
    for role in ("inputs", "outputs"):
        entries = record[role] or []
        record[role] = [parse_tensor(entry, "%s[%d]" % (role, i)) for i, entry in enumerate(entries)]
    return record


def parse_tensor(obj, where="tensor"):
    """A validated tensor entry (every field present); ``where`` names it in errors."""
    entry = _parse_fields(obj, TENSOR_FIELDS, where)
    entry["meta"] = entry["meta"] or {}
    entry["path"] = [tuple(step) for step in entry["path"] or ()]
    return entry


def parse_line(line):
    """Decode and validate one journal line (bytes, without or with its newline)."""
    try:
        obj = json.loads(line)
    except ValueError as exc:
        raise RecordError("not valid JSON (%s)" % exc) from None
    return parse_call(obj)


def call_line(record, default=None):
    """The journal line (bytes, newline-terminated) of a call record: ASCII JSON, so lone surrogates
    and any other text survive as escapes."""
    return (json.dumps(record, default=default, allow_nan=True) + "\n").encode("ascii")


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
    ("value", "string"),
)


def index_row(side, call, tensor):
    """One index row (column -> value) for a reader ``Tensor`` of ``call``."""
    fn = call.function or {}
    error = call.error or {}
    row = {
        "run_side": side, "call_id": call.id, "sample": call.sample, "stage": call.stage,
        "occurrence": call.occurrence, "parent": call.parent, "fn_module": _text_or_none(fn.get("module")),
        "fn_qualname": _text_or_none(fn.get("qualname")), "fn_file": _text_or_none(fn.get("file")),
        "mode": call.mode, "error_type": error.get("type"), "error_message": error.get("message"),
        "pid": call.pid, "thread": call.thread, "t_start": call.t_start, "t_end": call.t_end,
        "role": tensor.role, "name": tensor.name, "kind": tensor.kind, "dtype": tensor.dtype,
        "shape": list(tensor.shape) if tensor.shape is not None else None,
        "min": _float(tensor.min), "max": _float(tensor.max), "mean": _float(tensor.mean),
        "std": _float(tensor.std), "nan_count": tensor.nan_count, "inf_count": tensor.inf_count,
        "hash": tensor.hash, "hash_alg": tensor.hash_alg if tensor.hash else None,
        "meta": json.dumps(tensor.meta, sort_keys=True, default=str),
        "note": tensor.note, "payload": tensor.payload,
        "value": None if keeps_payload(tensor.kind) else json.dumps(tensor.value, default=str),
    }
    for column, typ in INDEX_COLUMNS:
        if typ == "string" and row[column] is not None:
            row[column] = safe_text(row[column])
    return row


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
    return float(value) if _is_number(value) else None


def index_table(run):
    """Every tensor of a reader ``Run`` as a pyarrow Table with the ``INDEX_COLUMNS`` (needs pyarrow)."""
    from .._deps import require

    pa = require("pyarrow", extra="analysis", feature="the Parquet index")
    types = {"string": pa.string(), "int64": pa.int64(), "float64": pa.float64(),
             "int64_list": pa.list_(pa.int64())}
    rows = {column: [] for column, _ in INDEX_COLUMNS}
    for call in run.calls():
        for tensor in call.inputs + call.outputs:
            row = index_row(run.side, call, tensor)
            for column, values in rows.items():
                values.append(row[column])
    schema = pa.schema([pa.field(column, types[typ]) for column, typ in INDEX_COLUMNS])
    return pa.table({column: pa.array(rows[column], type=types[typ]) for column, typ in INDEX_COLUMNS},
                    schema=schema)
