"""Self-contained HTML report of a diff: verdict, pipeline strip, per-stage metrics and pictures.

Two entry points, both taking a DiffResult (``bmtrace.diff(...)``, or ``DiffResult.from_json(doc)``
for a saved document, which renders exactly like the diff that wrote it):

    from bmtrace.report.html import render_html, save_html
    html_text = render_html(result, run_a, run_b)
    save_html(result, run_a, run_b, "report.html")

The file has no external references (CSS inline, pictures as base64 PNG data URIs), so it opens
offline and can be attached to a bug report. Arrays are loaded lazily, only for the few entries per
stage that get pictures, so a report over thousands of samples stays quick and small.
"""
from __future__ import annotations

import datetime
import os

from .. import _deps
from ..errors import UsageError
from . import html_stage, html_summary
from .html_model import ReportModel
from .html_page import CSS, esc

__all__ = ["render_html", "save_html"]

# Defaults chosen so that 100 samples x 6 image stages stays a few MB and renders in seconds.
IMAGES_PER_STAGE = 3
MAX_IMAGE_SIDE = 256
TENSORS_PER_ENTRY = 4
ALIGNED_ROWS = 200
VISIBLE_ROWS = 20
MAX_ROWS = 1000

# The page's only script: opening a folded table row that a link (or the URL) points at, and the filter box.
_SCRIPT = """
function bmtraceReveal() {
  var el = location.hash ? document.getElementById(decodeURIComponent(location.hash.slice(1))) : null;
  if (!el) { return; }
  for (var d = el.closest('details'); d; d = d.parentElement ? d.parentElement.closest('details') : null) {
    d.open = true;
  }
  el.scrollIntoView();
}
window.addEventListener('hashchange', bmtraceReveal);
// The filter box: sample rows whose key does not match are hidden; stage sections and their links too,
// unless the text names no stage at all (then it is a sample search and every stage stays).
function bmtraceFilter() {
  var q = document.getElementById('bmtrace-filter').value.trim().toLowerCase();
  var bad = document.getElementById('bmtrace-bad').checked, shown = 0, total = 0;
  var items = Array.prototype.slice.call(document.querySelectorAll('[data-filter]'));
  var matches = function (el) { return !q || el.getAttribute('data-filter').indexOf(q) >= 0; };
  var stageHit = items.some(function (el) { return el.tagName !== 'TR' && matches(el); });
  items.forEach(function (el) {
    var row = el.tagName === 'TR';
    var hit = (row || stageHit) ? matches(el) : true;
    if (bad && el.getAttribute('data-ok') === '1') { hit = false; }
    el.style.display = hit ? '' : 'none';
    if (row) { total += 1; shown += hit ? 1 : 0; }
  });
  if (q || bad) {
    document.querySelectorAll('#samples-more details').forEach(function (d) { d.open = true; });
  }
  document.getElementById('bmtrace-count').textContent = (q || bad) ? shown + ' of ' + total + ' samples' : '';
}
document.addEventListener('DOMContentLoaded', function () {
  var box = document.getElementById('bmtrace-filter'), bad = document.getElementById('bmtrace-bad');
  if (box) { box.addEventListener('input', bmtraceFilter); bad.addEventListener('change', bmtraceFilter); }
});
document.addEventListener('DOMContentLoaded', bmtraceReveal);
"""


def render_html(result, run_a=None, run_b=None, *, title=None, images_per_stage=IMAGES_PER_STAGE,
                max_image_side=MAX_IMAGE_SIDE, tensors_per_entry=TENSORS_PER_ENTRY,
                aligned_rows=ALIGNED_ROWS, visible_rows=VISIBLE_ROWS, max_rows=MAX_ROWS):
    """Render a diff result as one self-contained HTML page.

    Args:
        result: a DiffResult.
        run_a, run_b: the runs the document was made from (``bmtrace.open_run``), used to load the
            tensors that get pictures; without them the report shows metrics only.
        title: page title; defaults to "bmtrace: <run_a> vs <run_b>" (last two path parts).
        images_per_stage: how many entries of each stage (worst first) get pictures and plots.
        max_image_side: pictures are downsampled so their longer side is at most this many pixels.
        tensors_per_entry: how many tensors of one entry get pictures (worst first).
        aligned_rows: cap on aligned rows listed per table (non-aligned rows are always listed).
        visible_rows: entries per stage table shown open; the rest are folded under <details>.
        max_rows: cap on rows per stage table and in the samples list, so huge runs stay readable.

    Returns:
        The HTML text.

    Raises:
        MissingDependencyError: matplotlib is not installed (``pip install 'bmtrace[report]'``).
    """
    _deps.require("matplotlib", extra="report", feature="the HTML report")
    model = ReportModel(result)
    opts = {"images": max(0, int(images_per_stage)), "side": max(16, int(max_image_side)),
            "tensors": max(1, int(tensors_per_entry)), "rows": max(0, int(aligned_rows)),
            "visible": max(1, int(visible_rows)), "max_rows": max(1, int(max_rows))}
    from .html_tensors import CallIndex

    opts["index_a"] = CallIndex(run_a) if run_a is not None else None
    opts["index_b"] = CallIndex(run_b) if run_b is not None else None
    opts["model"] = model
    opts["plan"] = html_stage.plan(model, opts)
    opts["listed"] = {e.index for _drawn, listed, _hidden in opts["plan"].values() for e in listed}
    # the full paths are in the header; the title keeps the last path parts so it fits a tab
    page_title = title or "bmtrace: %s vs %s" % (_short(html_summary.run_label(model.doc.get("run_a"))),
                                                 _short(html_summary.run_label(model.doc.get("run_b"))))
    body = [
        html_summary.header(model, page_title),
        html_summary.verdict(model),
        html_summary.strip(model),
        html_summary.toc(model),
        html_summary.worst_first_nav(model),
        html_summary.filter_box(model),
        html_summary.hints_block(model),
        html_summary.warnings_block(model),
        html_summary.samples_block(model, opts),
    ]
    for group in model.stages:
        body.append(html_stage.stage_section(model, group, opts))
    body.append(html_summary.samples_more_block(model, opts))
    body.append(html_summary.environment_block(model.doc.get("environment")))
    body.append('<footer>Written by bmtrace on %s UTC. Colours: green aligned, red diverged (light red: '
                'only inherited, by isolation), grey missing on one side, purple error.</footer>'
                % datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M"))
    return ('<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            '<meta name="generator" content="bmtrace">'
            "<title>%s</title><style>%s</style></head>\n<body data-aligned=\"%s\"><main>\n%s\n"
            "</main><script>%s</script></body></html>\n"
            % (esc(page_title), CSS, "true" if model.aligned else "false", "\n".join(body), _SCRIPT))


def _short(path):
    parts = [p for p in path.replace("\\", "/").split("/") if p]
    return "/".join(parts[-2:]) if parts else path


def save_html(result, run_a, run_b, out_path, **render_kwargs):
    """Render a diff result and write it to out_path (atomically); returns out_path.

    Raises:
        UsageError: out_path is a directory or cannot be written.
    """
    text = render_html(result, run_a, run_b, **render_kwargs)
    out_path = os.fspath(out_path)
    if os.path.isdir(out_path):
        raise UsageError("cannot write the HTML report to %s: it is a directory; give a file name such as "
                         "%s" % (out_path, os.path.join(out_path, "report.html")))
    directory = os.path.dirname(os.path.abspath(out_path))
    tmp = out_path + ".tmp%d" % os.getpid()
    try:
        os.makedirs(directory, exist_ok=True)
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, out_path)  # a reader never sees half a report
    except OSError as exc:
        raise UsageError("cannot write the HTML report to %s: %s" % (out_path, exc.strerror or exc)) from None
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return out_path
