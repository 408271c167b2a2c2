"""A run in a notebook: its index as a pandas DataFrame and a compact HTML summary.

``Run.to_pandas()`` and ``Run._repr_html_()`` call these (kept here so the reader stays small and
needs neither pandas nor pyarrow).
"""
from __future__ import annotations

import html

from .._deps import require


def run_to_pandas(run):
    """The run's index (one row per recorded tensor, the ``index.parquet`` columns) as a DataFrame."""
    require("pandas", extra="analysis", feature="Run.to_pandas()")
    return run.index().to_pandas()


def run_repr_html(run, max_stages=50):
    """A small HTML table: the run's path and side, then per stage its calls, samples and errors."""
    esc = html.escape
    stats = {}
    for call in run.calls():
        row = stats.setdefault(call.stage, {"calls": 0, "samples": set(), "errors": 0})
        row["calls"] += 1
        row["samples"].add(call.sample)
        row["errors"] += 1 if call.error else 0
    rows = "".join(
        "<tr><td><code>%s</code></td><td style='text-align:right'>%d</td><td style='text-align:right'>%d</td>"
        "<td style='text-align:right'>%s</td></tr>" % (esc(str(stage)), row["calls"], len(row["samples"]),
                                                       row["errors"] or "")
        for stage, row in list(stats.items())[:max_stages])
    more = "<p>... %d more stages</p>" % (len(stats) - max_stages) if len(stats) > max_stages else ""
    n_samples = len(run.samples())
    return ("<div class='bmtrace-run'><b>bmtrace run</b> <code>%s</code> side <code>%s</code>: %d stage(s), "
            "%d sample(s), %d call(s)<table><thead><tr><th>stage</th><th>calls</th><th>samples</th>"
            "<th>errors</th></tr></thead><tbody>%s</tbody></table>%s</div>"
            % (esc(str(run.path)), esc(str(run.side)), len(stats), n_samples,
               sum(r["calls"] for r in stats.values()), rows, more))
