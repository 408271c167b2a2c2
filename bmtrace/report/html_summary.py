"""Top and bottom of the HTML report: header, verdict, pipeline strip, contents, hints, samples, environment."""
from __future__ import annotations

import math

from ..compare.status import passes
from .html_model import stage_css, to_float
from .html_page import status_word, badge, esc, fmt_bound, fmt_cos, fmt_num, fmt_sample, fmt_shape


def run_label(run):
    """A run as text: its path (the document may hold a path or a dict)."""
    if isinstance(run, dict):
        return str(run.get("path") or run.get("name") or run.get("side") or "run")
    return str(run) if run is not None else "?"


def _run_line(label, run):
    if isinstance(run, dict):
        extra = " ".join("%s=%s" % (k, v) for k, v in sorted(run.items()) if k != "path" and not
                         isinstance(v, (dict, list)))
        return "<div>%s <code>%s</code> %s</div>" % (label, esc(run_label(run)), esc(extra))
    return "<div>%s <code>%s</code></div>" % (label, esc(run_label(run)))


def header(model, page_title):
    """Page title and the two runs' paths and sides."""
    labels = []
    for letter in ("a", "b"):
        side = model.doc.get("side_" + letter)
        named = side and str(side).upper() != letter.upper()
        labels.append("%s (%s)" % (letter.upper(), esc(side)) if named else letter.upper())
    return ('<header><h1>%s</h1><div class="runs">%s%s</div></header>'
            % (esc(page_title), _run_line(labels[0], model.doc.get("run_a")),
               _run_line(labels[1], model.doc.get("run_b"))))


def warnings_block(model):
    """The diff's own warnings (fallbacks, unpaired records), if any."""
    notes = [w for w in (model.doc.get("warnings") or ()) if w]
    if not notes:
        return ""
    return ('<section id="warnings" class="block"><h2>Warnings from the diff</h2><ul>%s</ul></section>'
            % "".join("<li>%s</li>" % esc(w) for w in notes))


def _entry_metric_text(entry, tensor):
    parts = []
    if tensor is not None:
        parts.append("tensor <code>%s</code>" % esc(tensor.get("name")))
        if tensor.get("nonfinite_mismatch"):
            # finite-only metrics would read "max 0, cosine 1" here: lead with what is wrong
            parts.append("<b>%s NaN/inf on one side only</b>" % esc(tensor.get("nonfinite_mismatch")))
        else:
            where = tensor.get("max_abs_index")
            parts.append("max |A-B| %s%s" % (fmt_bound(tensor.get("max_abs_diff"), tensor.get("lower_bound")),
                                             " at [%s]" % esc(", ".join(map(str, where))) if where else ""))
            if tensor.get("cosine") is not None:
                parts.append("cosine %s" % fmt_cos(tensor.get("cosine")))
        if tensor.get("shape_a") != tensor.get("shape_b"):
            parts.append("shapes %s vs %s" % (fmt_shape(tensor.get("shape_a")), fmt_shape(tensor.get("shape_b"))))
    elif entry is not None and entry.status != "diverged":
        parts.append(status_word(entry.status))
    return ", ".join(parts)


def verdict(model):
    """The banner: ALIGNED or DIVERGED, the first divergence, its likely cause, counts."""
    n = len(model.entries)
    counts = {}
    for e in model.entries:
        counts[e.status] = counts.get(e.status, 0) + 1
    count_text = ", ".join("%d %s" % (v, status_word(k)) for k, v in sorted(counts.items()))
    summary = "%s over %s and %s: %s" % (
        _plural(n, "stage record"), _plural(len(model.samples), "sample"),
        _plural(len(model.stages), "stage"), count_text or "nothing compared")
    word, css = model.verdict, stage_css(model.result.status)
    if model.aligned:
        first = "Every stage agrees within tolerance."
    else:
        first = _first_text(model)
    cause = _headline_hint(model)
    if cause is not None:
        first += '<div class="cause">Likely cause: <b>%s</b> &middot; %s</div>' % (
            esc(cause.get("cause") or "hint"), esc(cause.get("message") or ""))
    isolation = model.doc.get("isolation")
    if isinstance(isolation, dict) and isolation.get("message"):
        first += '<div class="cause">Isolation (replayed on identical inputs): %s</div>' % esc(isolation["message"])
    else:
        intro = [g.name for g in model.stages if any(e.introduces for e in g.entries)]
        if intro:
            first += ('<div class="cause">Isolation (replayed on identical inputs): error introduced at %s</div>'
                      % ", ".join("<b>%s</b>" % esc(name) for name in intro))
    return ('<section id="verdict" class="verdict %s"><div class="word">%s</div>'
            '<div id="first-divergence">%s</div><div class="counts">%s</div></section>'
            % (css, word, first, esc(summary)))


def _headline_hint(model):
    """The most confident hint about the first divergent stage (where fixing starts), if any."""
    entry = model.first_entry
    if entry is None:
        return None
    hints = [h for h in model.hints if str(h.get("stage")) == entry.stage]
    if not hints:
        return None
    return max(hints, key=lambda h: (h.get("sample") == entry.sample, to_float(h.get("confidence")) or 0.0))


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
        return ('No stage diverged in value, but records do not pair: first at stage '
                '<a href="#%s"><b>%s</b></a> (%s)') % (
            e.anchor, esc(e.stage), status_word(e.status))
    return "The runs are not aligned, but the document names no stage."


def strip(model):
    """The pipeline as a row of chips, one per stage, coloured by its worst status."""
    chips = []
    first_stage = model.first_entry.stage if model.first_entry is not None else None
    for group in model.stages:
        counts = group.counts()
        total = len(group.entries)
        bad = total - sum(n for status, n in counts.items() if passes(status))
        detail = "%d/%d not aligned" % (bad, total) if bad else "%d aligned" % total
        if group.isolated:
            detail += "<br>%s" % group.isolation_word()
        worst = group.worst
        css = stage_css(group.status)
        if css == "bad" and group.isolated and group.isolation_word() == "inherits only":
            css = "inherit"  # diverged only because its inputs did: a lighter red points upstream
        chips.append('<a class="chip s-%s%s" href="#%s" title="%s"><div class="n">%s</div>'
                     '<div class="c">%s</div><div class="c">max |A-B| %s</div></a>'
                     % (css, " first" if group.name == first_stage else "", group.anchor,
                        esc(status_word(group.status)), esc(group.name), detail, _chip_num(worst)))
    return '<nav id="pipeline" class="strip" aria-label="pipeline">%s</nav>' % "".join(chips)


def _plural(n, word):
    return "%d %s%s" % (n, word, "" if n == 1 else "s")


def _chip_num(worst):
    """The worst entry's max |A-B| on a stage chip."""
    value = worst.max_abs if worst is not None else None
    # On a coloured chip the red NaN style would vanish: spell non-finite values out plainly.
    if value is not None and (math.isnan(value) or math.isinf(value)):
        return "NaN/inf"
    return fmt_bound(value, worst is not None and worst.max_abs_lower, 3)


def toc(model):
    """Links to every section, stages in pipeline order."""
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


def hint_html(hint, model=None):
    """One hint box: cause, confidence, where (when model is given) and message."""
    where = ""
    if model is None:
        where = " <span class=summary>(sample %s)</span>" % fmt_sample(hint.get("sample"))
    else:
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


def hints_block(model):
    """All hints, most confident first."""
    if not model.hints:
        return ""
    hints = sorted(model.hints, key=lambda h: -(to_float(h.get("confidence")) or 0.0))
    return '<section id="hints" class="block"><h2>Hints</h2>%s</section>' % "".join(
        hint_html(h, model) for h in hints)


def _sample_rows(model, opts):
    """Table rows for the samples, worst first, and how many were left out by the row caps."""
    if "sample_rows" in opts:
        return opts["sample_rows"]
    rows, hidden = [], 0
    anchors = {g.name: g.anchor for g in model.stages}
    for i, summary in enumerate(model.samples):
        if i >= opts["max_rows"] or (summary.status == "aligned" and i >= opts["rows"]):
            hidden += 1
            continue
        first = summary.first_bad
        # a row the stage table left out cannot be linked to: point at its stage instead
        target = first.anchor if first is not None and first.index in opts["listed"] else (
            anchors.get(first.stage) if first is not None else None)
        worst = min(summary.entries, key=lambda e: abs_key(e.max_abs))
        cos = [e.cosine for e in summary.entries if e.cosine is not None]
        rows.append('<tr data-filter="%s" data-ok="%d"><td class=num>%d</td><td>%s</td><td>%s</td><td>%s</td>'
                    "<td class=num>%s</td><td class=num>%s</td></tr>"
                    % (esc(str(summary.sample).lower()), passes(summary.status), i + 1,
                       fmt_sample(summary.sample),
                       badge(status_word(summary.status), stage_css(summary.status)),
                       '<a href="#%s">%s</a> (%s)' % (target, esc(first.stage), status_word(first.status))
                       if first is not None else '<span class="na">&mdash;</span>',
                       fmt_bound(worst.max_abs, worst.max_abs_lower), fmt_cos(_min_cos(cos))))
    opts["sample_rows"] = (rows, hidden)
    return rows, hidden


_SAMPLE_HEAD = ('<table class="filterable"><tr><th>#</th><th>sample</th><th>status</th><th>first stage not aligned'
                '</th><th>worst max |A-B|</th><th>worst cosine</th></tr>%s</table>')


def samples_block(model, opts):
    """The worst samples (``opts["visible"]`` of them) near the top; the rest are listed at the end of the
    page (``samples_more_block``), so a run of hundreds of samples still opens on its verdict and stages."""
    rows, hidden = _sample_rows(model, opts)
    shown = rows[:opts["visible"]]
    rest = len(rows) - len(shown)
    more = ""
    if rest:
        more = ('<p class="summary"><a href="#samples-more">%d more samples</a> are listed after the stages.</p>'
                % rest)
    elif hidden:
        more = ('<p class="summary">%d more samples not listed (better ones; the JSON document has them all).</p>'
                % hidden)
    return ('<section id="samples" class="block"><h2>Samples, worst first</h2>%s%s</section>'
            % (_SAMPLE_HEAD % "".join(shown), more))


def samples_more_block(model, opts):
    """The samples after the worst ``opts["visible"]``, folded, at the end of the page ("" when none)."""
    rows, hidden = _sample_rows(model, opts)
    rest = rows[opts["visible"]:]
    if not rest:
        return ""
    note = ('<p class="summary">%d more samples not listed (better ones; the JSON document has them all).</p>'
            % hidden) if hidden else ""
    return ('<section id="samples-more" class="block"><h2>More samples, worst first</h2><details>'
            '<summary>%d samples (%d to %d)</summary>%s</details>%s</section>'
            % (len(rest), opts["visible"] + 1, opts["visible"] + len(rest), _SAMPLE_HEAD % "".join(rest), note))


def filter_box(model):
    """A search box that filters sample rows and stage sections by text (the page's inline script)."""
    return ('<div class="filter"><input id="bmtrace-filter" type="search" placeholder="filter samples and stages '
            '(text in the key or name)" aria-label="filter samples and stages"> <label><input id="bmtrace-bad" '
            'type="checkbox"> only what is not aligned</label> <span id="bmtrace-count" class="summary"></span></div>')


def worst_first_nav(model):
    """Links to the stages ordered worst first (status, then the deciding max abs diff)."""
    groups = sorted(model.stages, key=lambda g: (g.worst.sort_key() if g.worst is not None else (99,), g.position))
    links = ['<a href="#%s" data-filter="%s" data-ok="%d">%s %s</a>' % (
        g.anchor, esc(str(g.name).lower()), passes(g.status), badge(status_word(g.status), stage_css(g.status)),
        esc(g.name))
        for g in groups]
    return '<nav class="toc worst" aria-label="stages worst first">Stages, worst first: %s</nav>' % " ".join(links)


def abs_key(value):
    """Sort key: larger |diff| first, non-finite before everything, absent last."""
    if value is None:
        return 0.0
    return -math.inf if math.isnan(value) or math.isinf(value) else -abs(value)


def _min_cos(values):
    nan = [v for v in values if math.isnan(v)]
    return nan[0] if nan else (min(values) if values else None)


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


def environment_block(env):
    """Versions, env vars and build lines that differ between the runs."""
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
