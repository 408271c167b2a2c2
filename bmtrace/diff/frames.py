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


def columns(results):
    """PARQUET_COLUMNS as lists, one item per tensor pair (or per call pair without tensors) of
    ``results`` (DiffResults). Built column by column: a dict per row held 260 MB more at the peak of
    a 100k-sample diff's Parquet output (600,000 rows)."""
    out = {c: [] for c in PARQUET_COLUMNS}
    call_keys = ("run_a", "run_b", "call_a", "call_b", "stage_status", "sample", "stage", "occurrence")
    tensor_keys = ("role", "tensor", "status", "max_abs_diff", "mean_abs_diff", "cosine", "equal_ratio",
                   "shape_a", "shape_b", "dtype_a", "dtype_b", "basis")
    call_lists = [out[c] for c in call_keys]
    tensor_lists = [out[c] for c in tensor_keys]
    for result in results:
        for entry in result.stages:
            call = (result.run_a, result.run_b, entry.call_a, entry.call_b, entry.status,
                    None if entry.sample is None else str(entry.sample), entry.stage, entry.occurrence)
            found = [(t.role, t.name, t.status, t.max_abs_diff, t.mean_abs_diff, t.cosine, t.equal_ratio,
                      _shape(t.shape_a), _shape(t.shape_b), t.dtype_a, t.dtype_b, t.basis) for t in entry.tensors] \
                or [(None, None, entry.status) + (None,) * 9]
            for values in found:
                for column, value in zip(call_lists, call):
                    column.append(value)
                for column, value in zip(tensor_lists, values):
                    column.append(value)
    return out


def to_pandas(result):
    """One row per tensor pair with COLUMNS (requires pandas)."""
    pd = require("pandas", extra="analysis", feature="DiffResult.to_pandas()")
    found = columns([result])
    return pd.DataFrame({c: found[c] for c in COLUMNS}, columns=list(COLUMNS))


def to_arrow(results):
    """A pyarrow Table with PARQUET_COLUMNS for one result or a list of them (an N-way diff)."""
    pa = require("pyarrow", extra="analysis", feature="the Parquet diff output")
    if not isinstance(results, (list, tuple)):
        results = [results]
    types = {"occurrence": pa.int64(), "shape_a": pa.list_(pa.int64()), "shape_b": pa.list_(pa.int64())}
    for name in ("max_abs_diff", "mean_abs_diff", "cosine", "equal_ratio"):
        types[name] = pa.float64()
    schema = pa.schema([pa.field(c, types.get(c, pa.string())) for c in PARQUET_COLUMNS],
                       metadata={b"bmtrace_format": b"bmtrace-diff-rows", b"bmtrace_format_version": b"1"})
    found = columns(results)
    arrays = {}
    for c in PARQUET_COLUMNS:
        arrays[c] = pa.array(found.pop(c), type=schema.field(c).type)  # each list freed once it is an array
    return pa.table(arrays, schema=schema)


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
