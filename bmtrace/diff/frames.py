"""A diff result as rows: pandas DataFrame, Parquet file, and the compact HTML a notebook shows.

One row per tensor pair (call pairs without tensors, e.g. a call recorded on one side only, get one
row with an empty tensor), so pandas or DuckDB can filter, group and join with the run indexes
(``call_a``/``call_b`` are the ``call_id`` of ``index.parquet``).
"""
from __future__ import annotations

import html

from .._deps import require
from ..compare import status as vocabulary

COLUMNS = ("sample", "stage", "occurrence", "role", "tensor", "status", "max_abs_diff", "mean_abs_diff",
           "cosine", "equal_ratio", "shape_a", "shape_b", "dtype_a", "dtype_b", "basis")
PARQUET_COLUMNS = ("run_a", "run_b", "call_a", "call_b", "stage_status") + COLUMNS


def _shape(shape):
    return list(shape) if shape is not None else None


def rows(result):
    """Dicts with PARQUET_COLUMNS, one per tensor pair (or per call pair without tensors)."""
    out = []
    for entry in result.stages:
        base = {"run_a": result.run_a, "run_b": result.run_b, "call_a": entry.call_a, "call_b": entry.call_b,
                "stage_status": entry.status, "sample": None if entry.sample is None else str(entry.sample),
                "stage": entry.stage, "occurrence": entry.occurrence}
        if not entry.tensors:
            out.append(dict(base, role=None, tensor=None, status=entry.status, max_abs_diff=None,
                            mean_abs_diff=None, cosine=None, equal_ratio=None, shape_a=None, shape_b=None,
                            dtype_a=None, dtype_b=None, basis=None))
            continue
        for t in entry.tensors:
            out.append(dict(base, role=t.role, tensor=t.name, status=t.status, max_abs_diff=t.max_abs_diff,
                            mean_abs_diff=t.mean_abs_diff, cosine=t.cosine, equal_ratio=t.equal_ratio,
                            shape_a=_shape(t.shape_a), shape_b=_shape(t.shape_b), dtype_a=t.dtype_a,
                            dtype_b=t.dtype_b, basis=t.basis))
    return out


def to_pandas(result):
    """One row per tensor pair with COLUMNS (requires pandas)."""
    pd = require("pandas", extra="analysis", feature="DiffResult.to_pandas()")
    return pd.DataFrame([{k: r[k] for k in COLUMNS} for r in rows(result)], columns=list(COLUMNS))


def to_arrow(results):
    """A pyarrow Table with PARQUET_COLUMNS for one result or a list of them (an N-way diff)."""
    pa = require("pyarrow", extra="analysis", feature="the Parquet diff output")
    if not isinstance(results, (list, tuple)):
        results = [results]
    types = {"occurrence": pa.int64(), "shape_a": pa.list_(pa.int64()), "shape_b": pa.list_(pa.int64())}
    for name in ("max_abs_diff", "mean_abs_diff", "cosine", "equal_ratio"):
        types[name] = pa.float64()
    all_rows = [r for result in results for r in rows(result)]
    schema = pa.schema([pa.field(c, types.get(c, pa.string())) for c in PARQUET_COLUMNS],
                       metadata={b"bmtrace_format": b"bmtrace-diff-rows", b"bmtrace_format_version": b"1"})
    return pa.table({c: pa.array([r[c] for r in all_rows], type=schema.field(c).type) for c in PARQUET_COLUMNS},
                    schema=schema)


def write_parquet(results, path):
    """Write ``to_arrow(results)`` to ``path`` (atomically); returns the path."""
    import os

    from ..errors import UsageError

    pq = require("pyarrow.parquet", package="pyarrow", extra="analysis", feature="the Parquet diff output")
    table = to_arrow(results)
    path = os.fspath(path)
    tmp = path + ".tmp%d" % os.getpid()
    try:
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        pq.write_table(table, tmp)
        os.replace(tmp, path)
    except OSError as exc:
        raise UsageError("cannot write the Parquet rows to %s: %s" % (path, exc.strerror or exc)) from None
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


_COLOURS = {"ok": "#2e7d32", "warn": "#b28704", "missing": "#6d6d6d", "bad": "#c62828", "error": "#6a1b9a"}


def _num(value, fmt):
    return "&mdash;" if value is None else fmt % value


def repr_html(result):
    """The verdict and the stage table as a small HTML fragment (no pictures, no script)."""
    esc = html.escape
    colour = _COLOURS.get(vocabulary.severity(result.status), "#455a64")
    first = result.first_divergence
    rows_html = []
    for summary in result.by_stage():
        max_abs, cosine, lower, reason = summary.figures()
        mark = "&#9654; " if first is not None and first.stage == summary.stage else ""
        cell = _COLOURS.get(vocabulary.severity(summary.status), "#455a64")
        rows_html.append(
            "<tr><td>%s%s</td><td style='text-align:right'>%d</td><td style='color:%s;font-weight:600'>%s</td>"
            "<td style='text-align:right'>%s%s</td><td style='text-align:right'>%s</td><td>%s</td></tr>" % (
                mark, esc(summary.stage), summary.samples_compared, cell, esc(summary.status_text()),
                ">=" if lower and max_abs else "", _num(max_abs, "%.4g"), _num(cosine, "%.6f"), esc(reason or "")))
    return ("<div class='bmtrace-diff'><div style='font-weight:700;color:%s'>%s</div>"
            "<div style='font-size:90%%'>%s</div>"
            "<table><thead><tr><th>stage</th><th>samples</th><th>status</th><th>max abs diff</th>"
            "<th>cosine</th><th>why</th></tr></thead><tbody>%s</tbody></table></div>"
            % (colour, esc(result.verdict), esc(result.one_line()), "".join(rows_html)))
