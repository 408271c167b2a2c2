"""The Parquet index: one row per tensor, queryable by pyarrow, DuckDB or pandas without bmtrace."""
from __future__ import annotations

import glob
import json
import os

from .._deps import require
from . import layout

_FINGERPRINT_KEY = b"bmtrace_fingerprint"


def _columns():
    pa = require("pyarrow", extra="analysis", feature="the Parquet index")
    return pa, [
        ("run_side", pa.string()), ("call_id", pa.string()), ("sample", pa.string()), ("stage", pa.string()),
        ("occurrence", pa.int64()), ("parent", pa.string()), ("fn_module", pa.string()),
        ("fn_qualname", pa.string()), ("fn_file", pa.string()), ("mode", pa.string()),
        ("error_type", pa.string()), ("error_message", pa.string()), ("pid", pa.int64()),
        ("thread", pa.string()), ("t_start", pa.float64()), ("t_end", pa.float64()),
        ("role", pa.string()), ("name", pa.string()), ("kind", pa.string()), ("dtype", pa.string()),
        ("shape", pa.list_(pa.int64())), ("min", pa.float64()), ("max", pa.float64()),
        ("mean", pa.float64()), ("std", pa.float64()), ("nan_count", pa.int64()), ("inf_count", pa.int64()),
        ("hash", pa.string()), ("meta", pa.string()), ("note", pa.string()), ("payload", pa.string()),
        ("value", pa.string()),
    ]


def build_table(run):
    """All tensors of ``run`` as a pyarrow Table (the index.parquet schema)."""
    pa, columns = _columns()
    rows = {name: [] for name, _ in columns}
    for call in run.calls():
        fn = call.function or {}
        error = call.error or {}
        for tensor in call.inputs + call.outputs:
            values = {
                "run_side": run.side, "call_id": call.id, "sample": call.sample, "stage": call.stage,
                "occurrence": call.occurrence, "parent": call.parent, "fn_module": fn.get("module"),
                "fn_qualname": fn.get("qualname"), "fn_file": fn.get("file"), "mode": call.mode,
                "error_type": error.get("type"), "error_message": error.get("message"), "pid": call.pid,
                "thread": call.thread, "t_start": call.t_start, "t_end": call.t_end, "role": tensor.role,
                "name": tensor.name, "kind": tensor.kind, "dtype": tensor.dtype,
                "shape": list(tensor.shape) if tensor.shape is not None else None,
                "min": _float(tensor.min), "max": _float(tensor.max), "mean": _float(tensor.mean),
                "std": _float(tensor.std), "nan_count": tensor.nan_count, "inf_count": tensor.inf_count,
                "hash": tensor.hash, "meta": json.dumps(tensor.meta, sort_keys=True, default=str),
                "note": tensor.note, "payload": tensor.payload,
                "value": None if tensor.kind in ("array", "bytes") else json.dumps(tensor.value, default=str),
            }
            for name, _ in columns:
                rows[name].append(values[name])
    schema = pa.schema([pa.field(name, typ) for name, typ in columns],
                       metadata={_FINGERPRINT_KEY: fingerprint(run.path).encode(),
                                 b"bmtrace_format_version": str(layout.FORMAT_VERSION).encode()})
    return pa.table({name: pa.array(rows[name], type=typ) for name, typ in columns}, schema=schema)


def fingerprint(path):
    """Names and sizes of the journals: changes whenever a record is added."""
    parts = []
    for journal in sorted(glob.glob(os.path.join(path, layout.JOURNAL_DIR, "*.jsonl"))):
        parts.append("%s:%d" % (os.path.basename(journal), os.path.getsize(journal)))
    return ";".join(parts)


def index_is_fresh(path):
    index_path = os.path.join(path, layout.INDEX_FILE)
    if not os.path.exists(index_path):
        return False
    pq = require("pyarrow.parquet", package="pyarrow", extra="analysis", feature="the Parquet index")
    metadata = pq.read_schema(index_path).metadata or {}
    return metadata.get(_FINGERPRINT_KEY, b"").decode() == fingerprint(path)


def build_index_if_possible(path, run=None):
    """Write RUN/index.parquet when pyarrow is installed and the index is missing or stale."""
    try:
        import pyarrow.parquet as pq
    except ImportError:
        return None  # devices record without pyarrow; analysis machines build the index on read
    if index_is_fresh(path):
        return os.path.join(path, layout.INDEX_FILE)
    from .reader import Run

    table = build_table(run if run is not None else Run(path))
    index_path = os.path.join(path, layout.INDEX_FILE)
    tmp = index_path + ".tmp-%d" % os.getpid()
    pq.write_table(table, tmp)
    os.replace(tmp, index_path)
    return index_path


def _float(value):
    if value is None or isinstance(value, (list, str)):
        return None
    return float(value)
