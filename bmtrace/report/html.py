"""Self-contained HTML report of a diff: verdict, pipeline strip, per-stage metrics and pictures.

Two entry points:

    from bmtrace.report.html import render_html, write_report
    html_text = render_html(result.to_json(), run_a, run_b)     # doc = issue-3 diff JSON
    write_report("runs/torch", "runs/sophon", "report.html")     # opens runs, diffs, writes the file

The file has no external references (CSS inline, pictures as base64 PNG data URIs), so it opens
offline and can be attached to a bug report. Arrays are loaded lazily, only for the few entries per
stage that get pictures, so a report over thousands of samples stays quick and small.
"""
from __future__ import annotations

import datetime
import json
import math
import os

from .. import _deps
from .html_model import ReportModel, stage_css, tensor_css, tensor_order, to_float
from .html_page import CSS, badge, esc, fmt_cos, fmt_num, fmt_ratio, fmt_sample, fmt_shape

__all__ = ["render_html", "write_report", "save_html"]

# Defaults chosen so that 100 samples x 6 image stages stays a few MB and renders in seconds.
IMAGES_PER_STAGE = 3
MAX_IMAGE_SIDE = 256
TENSORS_PER_ENTRY = 4
ALIGNED_ROWS = 200

_STATUS_WORDS = {
    "aligned": "aligned",
    "diverged": "diverged",
    "only_in_a": "only in A",
    "only_in_b": "only in B",
    "error": "error",
    "unknown": "unknown",
}


def render_html(doc, run_a=None, run_b=None, *, title=None, images_per_stage=IMAGES_PER_STAGE,
                max_image_side=MAX_IMAGE_SIDE, tensors_per_entry=TENSORS_PER_ENTRY,
                aligned_rows=ALIGNED_ROWS):
    """Render a diff document as one self-contained HTML page.

    Args:
        doc: the diff JSON document (issue 3 contract), as a dict or a JSON string.
        run_a, run_b: the runs the document was made from (``bmtrace.open_run``), used to load the
            tensors that get pictures; without them the report shows metrics only.
        title: page title; defaults to "bmtrace: <run_a> vs <run_b>".
        images_per_stage: how many entries of each stage (worst first) get pictures and plots.
        max_image_side: pictures are downsampled so their longer side is at most this many pixels.
        tensors_per_entry: how many tensors of one entry get pictures (worst first).
        aligned_rows: cap on aligned rows listed per table (non-aligned rows are always listed).

    Returns:
        The HTML text.

    Raises:
        MissingDependencyError: matplotlib is not installed (``pip install 'bmtrace[report]'``).
    """
    _deps.require("matplotlib", extra="report", feature="the HTML report")
    if isinstance(doc, (str, bytes)):
        doc = json.loads(doc)
    model = ReportModel(doc)
    opts = {"images": max(0, int(images_per_stage)), "side": max(16, int(max_image_side)),
            "tensors": max(1, int(tensors_per_entry)), "rows": max(0, int(aligned_rows))}
    from .html_tensors import CallIndex

    opts["index_a"] = CallIndex(run_a) if run_a is not None else None
    opts["index_b"] = CallIndex(run_b) if run_b is not None else None
    page_title = title or "bmtrace: %s vs %s" % (_run_label(model.doc.get("run_a")),
                                                 _run_label(model.doc.get("run_b")))
    body = [
        _header(model, page_title),
        _verdict(model),
        _strip(model),
        _toc(model),
        _hints_block(model),
        _warnings_block(model),
        _samples_block(model, opts),
    ]
    for group in model.stages:
        body.append(_stage_section(model, group, opts))
    body.append(_environment_block(model.doc.get("environment")))
    body.append('<footer>Written by bmtrace on %s UTC. Colours: green aligned, red diverged, grey '
                'missing on one side, purple error.</footer>'
                % datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M"))
    return ('<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            '<meta name="generator" content="bmtrace">'
            "<title>%s</title><style>%s</style></head>\n<body data-aligned=\"%s\"><main>\n%s\n"
            "</main></body></html>\n"
            % (esc(page_title), CSS, "true" if model.aligned else "false", "\n".join(body)))


def save_html(doc, run_a, run_b, out_path, **render_kwargs):
    """Render a diff document and write it to out_path (atomically); returns out_path.

    For callers that already have the diff, e.g. ``bmtrace diff --html``:
    ``save_html(result.to_json(), run_a, run_b, args.html)``.
    """
    text = render_html(doc, run_a, run_b, **render_kwargs)
    out_path = os.fspath(out_path)
    directory = os.path.dirname(os.path.abspath(out_path))
    os.makedirs(directory, exist_ok=True)
    tmp = out_path + ".tmp%d" % os.getpid()
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(text)
    os.replace(tmp, out_path)  # a reader never sees half a report
    return out_path


def write_report(run_a, run_b, out_path, *, doc=None, title=None, images_per_stage=IMAGES_PER_STAGE,
                 max_image_side=MAX_IMAGE_SIDE, **diff_kwargs):
    """Open two runs, diff them (unless doc is given) and write the HTML report.

    Args:
        run_a, run_b: run directories (or already opened runs).
        out_path: where to write the .html file.
        doc: a diff document to render instead of diffing again (dict or JSON text).
        title, images_per_stage, max_image_side: see ``render_html``.
        **diff_kwargs: passed to ``bmtrace.diff`` (tolerances, stage map).

    Returns:
        The diff document that was rendered (a dict), so callers can decide an exit code.
    """
    from ..store.reader import open_run

    run_a = open_run(run_a) if isinstance(run_a, (str, os.PathLike)) else run_a
    run_b = open_run(run_b) if isinstance(run_b, (str, os.PathLike)) else run_b
    if doc is None:
        # the submodule, not bmtrace.diff: importing bmtrace.diff rebinds that package attribute
        from ..diff import diff as run_diff

        doc = run_diff(run_a, run_b, **diff_kwargs).to_json()
    if isinstance(doc, (str, bytes)):
        doc = json.loads(doc)
    save_html(doc, run_a, run_b, out_path, title=title, images_per_stage=images_per_stage,
              max_image_side=max_image_side)
    return doc


# ----------------------------------------------------------------------------------------- sections

def _run_label(run):
    if isinstance(run, dict):
        return str(run.get("path") or run.get("name") or run.get("side") or "run")
    return str(run) if run is not None else "?"


def _run_line(label, run):
    if isinstance(run, dict):
        extra = " ".join("%s=%s" % (k, v) for k, v in sorted(run.items()) if k != "path" and not
                         isinstance(v, (dict, list)))
        return "<div>%s <code>%s</code> %s</div>" % (label, esc(_run_label(run)), esc(extra))
    return "<div>%s <code>%s</code></div>" % (label, esc(_run_label(run)))


def _header(model, page_title):
    labels = []
    for letter in ("a", "b"):
        side = model.doc.get("side_" + letter)
        labels.append("%s (%s)" % (letter.upper(), esc(side)) if side else letter.upper())
    return ('<header><h1>%s</h1><div class="runs">%s%s</div></header>'
            % (esc(page_title), _run_line(labels[0], model.doc.get("run_a")),
               _run_line(labels[1], model.doc.get("run_b"))))


def _warnings_block(model):
    notes = [w for w in (model.doc.get("warnings") or ()) if w]
    if not notes:
        return ""
    return ('<section id="warnings" class="block"><h2>Warnings from the diff</h2><ul>%s</ul></section>'
            % "".join("<li>%s</li>" % esc(w) for w in notes))


def _entry_metric_text(entry, tensor):
    parts = []
    if tensor is not None:
        parts.append("tensor <code>%s</code>" % esc(tensor.get("name")))
        parts.append("max |A-B| %s" % fmt_num(tensor.get("max_abs_diff")))
        if tensor.get("cosine") is not None:
            parts.append("cosine %s" % fmt_cos(tensor.get("cosine")))
        if tensor.get("shape_a") != tensor.get("shape_b"):
            parts.append("shapes %s vs %s" % (fmt_shape(tensor.get("shape_a")), fmt_shape(tensor.get("shape_b"))))
    elif entry is not None and entry.status != "diverged":
        parts.append(_STATUS_WORDS[entry.status])
    return ", ".join(parts)


def _verdict(model):
    n = len(model.entries)
    counts = {}
    for e in model.entries:
        counts[e.status] = counts.get(e.status, 0) + 1
    count_text = ", ".join("%d %s" % (v, _STATUS_WORDS[k]) for k, v in sorted(counts.items()))
    summary = "%d stage records over %d samples and %d stages: %s" % (
        n, len(model.samples), len(model.stages), count_text or "nothing compared")
    if model.aligned:
        word, css = "ALIGNED", "ok"
        first = "Every stage agrees within tolerance."
    else:
        word, css = "DIVERGED", "bad"
        first = _first_text(model)
    intro = [g.name for g in model.stages if any(e.introduces for e in g.entries)]
    if intro:
        first += "<div>Isolation: error introduced at %s; later stages inherit it.</div>" % ", ".join(
            "<b>%s</b>" % esc(name) for name in intro)
    return ('<section id="verdict" class="verdict %s"><div class="word">%s</div>'
            '<div id="first-divergence">%s</div><div class="counts">%s</div></section>'
            % (css, word, first, esc(summary)))


def _first_text(model):
    entry = model.first_entry
    if entry is not None:
        group = next(g for g in model.stages if g.name == entry.stage)
        return ('First divergence: stage <a href="#%s"><b>%s</b></a> (%d of %d), sample %s%s: %s'
                % (entry.anchor, esc(entry.stage), group.position + 1, len(model.stages),
                   fmt_sample(entry.sample), "" if not entry.occurrence else ", call %d" % entry.occurrence,
                   _entry_metric_text(entry, model.first_tensor())))
    if model.first:
        return "First divergence: stage <b>%s</b>, sample %s, tensor <code>%s</code>" % (
            esc(model.first.get("stage")), fmt_sample(model.first.get("sample")), esc(model.first.get("tensor")))
    bad = [e for e in model.entries if e.status != "aligned"]
    if bad:
        e = min(bad, key=lambda x: (next(g.position for g in model.stages if g.name == x.stage)))
        return 'No stage diverged in value, but records do not pair: first at stage <a href="#%s"><b>%s</b></a> (%s)' % (
            e.anchor, esc(e.stage), _STATUS_WORDS[e.status])
    return "The runs are not aligned, but the document names no stage."


def _strip(model):
    chips = []
    first_stage = model.first_entry.stage if model.first_entry is not None else None
    for group in model.stages:
        counts = group.counts()
        total = len(group.entries)
        bad = total - counts.get("aligned", 0)
        detail = "%d/%d not aligned" % (bad, total) if bad else "%d aligned" % total
        if group.isolated:
            n_intro = sum(1 for e in group.entries if e.introduces)
            detail += " &middot; %s" % ("introduces error" if n_intro else "inherited only")
        mad = group.worst.max_abs if group.worst is not None else None
        chips.append('<a class="chip s-%s%s" href="#%s" title="%s"><div class="n">%s</div>'
                     '<div class="c">%s</div><div class="c">max |A-B| %s</div></a>'
                     % (stage_css(group.status), " first" if group.name == first_stage else "", group.anchor,
                        esc(_STATUS_WORDS[group.status]), esc(group.name), detail, fmt_num(mad, 3)))
    return '<nav id="pipeline" class="strip" aria-label="pipeline">%s</nav>' % "".join(chips)


def _toc(model):
    links = ['<a href="#verdict">Verdict</a>']
    if model.hints:
        links.append('<a href="#hints">Hints (%d)</a>' % len(model.hints))
    links.append('<a href="#samples">Samples, worst first (%d)</a>' % len(model.samples))
    for group in model.stages:
        links.append('<a href="#%s">%d. %s</a>' % (group.anchor, group.position + 1, esc(group.name)))
    links.append('<a href="#environment">Environment</a>')
    return '<nav class="toc">%s</nav>' % " ".join(links)


def _confidence(value):
    number = to_float(value)
    if number is None or math.isnan(number):
        return esc(value) if value is not None else ""
    return "%d%%" % round(100 * number) if 0 <= number <= 1 else fmt_num(number)


def _hint_html(hint, model=None):
    where = ""
    if model is not None:
        group = next((g for g in model.stages if g.name == str(hint.get("stage"))), None)
        target = group.anchor if group is not None else None
        where = "stage %s" % (('<a href="#%s">%s</a>' % (target, esc(hint.get("stage")))) if target
                              else esc(hint.get("stage")))
        where += ", sample %s" % fmt_sample(hint.get("sample"))
        if hint.get("tensor") is not None:
            where += ", tensor <code>%s</code>" % esc(hint.get("tensor"))
        where = " <span class=summary>(%s)</span>" % where
    conf = _confidence(hint.get("confidence"))
    return ('<div class="hint"><span class="cause">%s</span>%s%s<div>%s</div></div>'
            % (esc(hint.get("cause") or "hint"), " &middot; confidence %s" % conf if conf else "", where,
               esc(hint.get("message") or "")))


def _hints_block(model):
    if not model.hints:
        return ""
    hints = sorted(model.hints, key=lambda h: -(to_float(h.get("confidence")) or 0.0))
    return '<section id="hints" class="block"><h2>Hints</h2>%s</section>' % "".join(
        _hint_html(h, model) for h in hints)


def _samples_block(model, opts):
    rows, hidden = [], 0
    for i, summary in enumerate(model.samples):
        if summary.status == "aligned" and i >= opts["rows"]:
            hidden += 1
            continue
        first = summary.first_bad
        worst = min(summary.entries, key=lambda e: _abs_key(e.max_abs))
        cos = [e.cosine for e in summary.entries if e.cosine is not None]
        rows.append("<tr><td class=num>%d</td><td>%s</td><td>%s</td><td>%s</td><td class=num>%s</td>"
                    "<td class=num>%s</td></tr>"
                    % (i + 1, fmt_sample(summary.sample),
                       badge(_STATUS_WORDS[summary.status], stage_css(summary.status)),
                       '<a href="#%s">%s</a> (%s)' % (first.anchor, esc(first.stage), _STATUS_WORDS[first.status])
                       if first is not None else '<span class="na">&mdash;</span>',
                       fmt_num(worst.max_abs), fmt_cos(_min_cos(cos))))
    more = ('<p class="summary">%d more aligned samples not listed.</p>' % hidden) if hidden else ""
    return ('<section id="samples" class="block"><h2>Samples, worst first</h2><table><tr><th>#</th>'
            '<th>sample</th><th>status</th><th>first stage not aligned</th><th>worst max |A-B|</th>'
            '<th>worst cosine</th></tr>%s</table>%s</section>' % ("".join(rows), more))


def _abs_key(value):
    if value is None:
        return 0.0
    return -math.inf if math.isnan(value) or math.isinf(value) else -abs(value)


def _min_cos(values):
    nan = [v for v in values if math.isnan(v)]
    return nan[0] if nan else (min(values) if values else None)


def _stage_section(model, group, opts):
    counts = ", ".join("%d %s" % (v, _STATUS_WORDS[k]) for k, v in group.counts().items())
    worst = group.worst
    summary = "%d records: %s" % (len(group.entries), counts)
    if worst is not None and worst.max_abs is not None:
        summary += "; worst max |A-B| %s (sample %s)" % (fmt_num(worst.max_abs), fmt_sample(worst.sample))
    is_first = model.first_entry is not None and model.first_entry.stage == group.name
    parts = ['<h2>%d. <span class="mono">%s</span> %s%s</h2><p class="summary">%s</p>'
             % (group.position + 1, esc(group.name), badge(_STATUS_WORDS[group.status], stage_css(group.status)),
                " " + badge("first divergence", "bad") if is_first else "", summary)]
    parts.extend(_hint_html(h) for h in group.hints)
    if group.isolated:
        parts.append(_isolation_table(group))
    # Without the runs there is nothing to draw from: the tables alone are the report.
    drawn = _entries_to_draw(model, group, opts) if opts["index_a"] or opts["index_b"] else []
    parts.append(_metrics_table(group, drawn, opts))
    for entry in drawn:
        parts.append(_entry_visuals(entry, opts))
    return '<section id="%s" class="stage%s">%s</section>' % (group.anchor, " first" if is_first else "",
                                                             "\n".join(parts))


def _entries_to_draw(model, group, opts):
    chosen = [e for e in group.entries if e.tensors][:opts["images"]]
    first = model.first_entry
    if first is not None and first.stage == group.name and first not in chosen:
        chosen.insert(0, first)  # the headline entry always gets its pictures
    return chosen


def _local_metrics(local):
    """(max_abs_diff, cosine) of a stage's local (isolated) error, however the dict nests it."""
    if isinstance(local, dict):
        tensors = local.get("tensors")
        if isinstance(tensors, list):
            from .html_model import entry_worst
            return entry_worst({"tensors": tensors})
        if "max_abs_diff" in local or "cosine" in local:
            return to_float(local.get("max_abs_diff")), to_float(local.get("cosine"))
        subs = [v for v in local.values() if isinstance(v, dict)]
        if subs:
            from .html_model import entry_worst
            return entry_worst({"tensors": subs})
    return None, None


def _isolation_table(group):
    rows = []
    for entry in group.entries:
        if entry.local is None and entry.introduces is None:
            continue
        local_abs, local_cos = _local_metrics(entry.local)
        if entry.introduces is None:
            verdict = '<span class="na">&mdash;</span>'
        elif entry.introduces:
            verdict = badge("introduces error here", "bad")
        else:
            verdict = badge("inherited from upstream", "missing")
        rows.append("<tr><td>%s</td><td class=num>%s</td><td class=num>%s</td><td class=num>%s</td>"
                    "<td>%s</td></tr>" % (fmt_sample(entry.sample), fmt_num(entry.max_abs), fmt_num(local_abs),
                                          fmt_cos(local_cos), verdict))
    return ('<div class="local"><h3>Local vs inherited error</h3><p class="summary">Inherited: this stage '
            'fed with its own upstream outputs (end to end). Local: this stage fed the same (A) inputs on both '
            'sides, so only its own error remains.</p><table><tr><th>sample</th><th>inherited max |A-B|</th>'
            '<th>local max |A-B|</th><th>local cosine</th><th>verdict</th></tr>%s</table></div>' % "".join(rows))


_TABLE_HEAD = ("<tr><th>sample</th><th>status</th><th>tensor</th><th>tensor status</th><th>max |A-B|</th>"
               "<th>mean |A-B|</th><th>cosine</th><th>PSNR dB</th><th>equal</th><th>min atol</th>"
               "<th>A</th><th>B</th></tr>")
_NCOLS = 12


def _metrics_table(group, drawn, opts):
    drawn_ids = {e.index for e in drawn}
    rows, hidden, aligned_seen = [], 0, 0
    for entry in group.entries:
        if entry.status == "aligned":
            aligned_seen += 1
            if aligned_seen > opts["rows"] and entry.index not in drawn_ids:
                hidden += 1
                continue
        rows.append(_entry_rows(entry, entry.index in drawn_ids))
    more = ('<p class="summary">%d more aligned records not listed.</p>' % hidden) if hidden else ""
    return "<h3>Metrics, worst first</h3><table>%s%s</table>%s" % (_TABLE_HEAD, "".join(rows), more)


def _entry_rows(entry, drawn):
    sample = fmt_sample(entry.sample)
    if entry.occurrence:
        sample += ' <span class="summary">call %d</span>' % entry.occurrence
    if drawn:
        sample += ' <a href="#vis-%d">pictures</a>' % entry.index
    status = badge(_STATUS_WORDS[entry.status], stage_css(entry.status))
    hl = ' class="hl"' if entry.status != "aligned" else ""
    notes = _entry_notes(entry.raw)
    if not entry.tensors:
        why = {"only_in_a": "only in A: run B has no record of this stage for this sample",
               "only_in_b": "only in B: run A has no record of this stage for this sample"}.get(
                   entry.status, "no tensors compared")
        return '<tr id="%s"%s><td>%s</td><td>%s</td><td colspan="%d" class="cell-note">%s%s</td></tr>' % (
            entry.anchor, hl, sample, status, _NCOLS - 2, esc(why), notes)
    out = []
    n = len(entry.tensors)
    for i, t in enumerate(entry.tensors):
        lead = ('<td rowspan="%d">%s%s</td><td rowspan="%d">%s</td>' % (n, sample, notes, n, status)) if i == 0 else ""
        rid = ' id="%s"' % entry.anchor if i == 0 else ""
        tstatus = str(t.get("status") or "unknown")
        name = esc(t.get("name"))
        if t.get("name_b") not in (None, t.get("name")):
            name += " / " + esc(t.get("name_b"))
        if t.get("role") == "input":
            name += ' <span class="summary">(input)</span>'
        tnotes = "".join('<div class="cell-note">%s</div>' % esc(n_) for n_ in (t.get("notes") or ()))
        if t.get("nonfinite_mismatch"):
            tnotes += '<div class="nonfinite">%s NaN/inf on one side only</div>' % esc(t.get("nonfinite_mismatch"))
        out.append("<tr%s%s>%s<td class=mono>%s%s</td><td>%s</td><td class=num>%s</td><td class=num>%s</td>"
                   "<td class=num>%s</td><td class=num>%s</td><td class=num>%s</td><td class=num>%s</td>"
                   "<td>%s</td><td>%s</td></tr>"
                   % (rid, hl, lead, name, tnotes, badge(tstatus, tensor_css(tstatus)),
                      fmt_num(t.get("max_abs_diff")), fmt_num(t.get("mean_abs_diff")), fmt_cos(t.get("cosine")),
                      fmt_num(t.get("psnr")), fmt_ratio(t.get("equal_ratio")), fmt_num(t.get("min_atol")),
                      _shape_dtype(t.get("shape_a"), t.get("dtype_a")),
                      _shape_dtype(t.get("shape_b"), t.get("dtype_b"))))
    return "".join(out)


def _shape_dtype(shape, dtype):
    if shape is None and dtype is None:
        return '<span class="na">missing</span>'
    if shape is None:
        return esc(dtype)  # str/bytes/object values have no shape
    return "%s %s" % (fmt_shape(shape), esc(dtype or ""))


def _entry_notes(raw):
    """Stage-level notes and each side's recorded exception, as small lines under the sample."""
    lines = []
    errors = raw.get("errors")
    if isinstance(errors, dict):
        for side in ("a", "b"):
            if errors.get(side):
                lines.append('<div class="cell-bad">%s raised %s</div>' % (side.upper(), esc(_error_text(errors[side]))))
    elif raw.get("error"):
        lines.append('<div class="cell-bad">%s</div>' % esc(_error_text(raw.get("error"))))
    lines.extend('<div class="cell-note">%s</div>' % esc(n) for n in (raw.get("notes") or ()) if n)
    return "".join(lines)


def _error_text(err):
    if isinstance(err, dict):
        return "%s: %s" % (err.get("type", "error"), err.get("message", ""))
    return str(err) if err else ""


def _entry_visuals(entry, opts):
    from . import html_tensors

    head = '<h3>%s &middot; %s %s</h3>' % (esc(entry.stage), fmt_sample(entry.sample),
                                           badge(_STATUS_WORDS[entry.status], stage_css(entry.status)))
    hints = "".join(_hint_html(h) for h in entry.hints)
    # Inputs repeat the upstream stage's outputs (drawn there); draw them only for stages without outputs.
    outputs = [t for t in entry.tensors if t.get("role") != "input"]
    tensors = sorted(outputs or entry.tensors, key=tensor_order)
    panels = []
    raw = entry.raw
    # Stage maps (--map A=B) and sample maps may rename B's side; the diff records both and the call ids.
    where_a = (raw.get("call_a"), entry.sample, entry.stage, entry.occurrence)
    where_b = (raw.get("call_b"), raw.get("sample_b", entry.sample), str(raw.get("stage_b") or entry.stage),
               entry.occurrence)
    for t in tensors[:opts["tensors"]]:
        name, role = t.get("name"), t.get("role")
        a = html_tensors.load_side("A", opts["index_a"], where_a, name, role)
        b = html_tensors.load_side("B", opts["index_b"], where_b, t.get("name_b") or name, role)
        panels.append(html_tensors.tensor_panel(t, a, b, opts["side"]))
    if len(tensors) > opts["tensors"]:
        panels.append('<p class="summary">%d more tensors not drawn.</p>' % (len(tensors) - opts["tensors"]))
    return '<div class="entry" id="vis-%d">%s%s%s</div>' % (entry.index, head, hints, "".join(panels))


# ------------------------------------------------------------------------------------- environment

_SIDE_KEYS = (("a", "b"), ("run_a", "run_b"), ("A", "B"), ("only_a", "only_b"))


def _env_rows(value, prefix, rows):
    """Flatten an environment diff into (key, A, B-or-None) rows, whatever its nesting."""
    if isinstance(value, dict):
        for ka, kb in _SIDE_KEYS:
            if (ka in value or kb in value) and not any(isinstance(v, dict) for v in value.values()):
                rows.append((prefix, value.get(ka), value.get(kb), True))
                return
        for key in value:
            _env_rows(value[key], "%s.%s" % (prefix, key) if prefix else str(key), rows)
    elif isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        for item in value:
            key = item.get("key") or item.get("name") or prefix
            rest = {k: v for k, v in item.items() if k not in ("key", "name")}
            _env_rows(rest, "%s.%s" % (prefix, key) if prefix and key != prefix else str(key), rows)
    else:
        rows.append((prefix, value, None, False))


def _environment_block(env):
    rows = []
    if env:
        _env_rows(env, "", rows)
    if not rows:
        body = '<p class="summary">No environment differences recorded.</p>'
    else:
        out = []
        for key, a, b, paired in rows:
            if paired:
                out.append('<tr%s><td class=mono>%s</td><td class=mono>%s</td><td class=mono>%s</td></tr>'
                           % (' class="hl"' if a != b else "", esc(key), _env_value(a), _env_value(b)))
            else:
                out.append('<tr><td class=mono>%s</td><td class=mono colspan="2">%s</td></tr>'
                           % (esc(key), _env_value(a)))
        body = ('<table><tr><th>what</th><th>run A</th><th>run B</th></tr>%s</table>' % "".join(out))
    return '<section id="environment" class="block"><h2>Environment</h2>%s</section>' % body


def _env_value(value):
    if value is None:
        return '<span class="na">(not set)</span>'
    if isinstance(value, (list, tuple)):
        return "<br>".join(esc(v) for v in value) or '<span class="na">(none)</span>'
    return esc(value)
