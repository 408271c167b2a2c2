"""One stage's section of the HTML report: summary, hints, isolation, metrics table and pictures."""
from __future__ import annotations

import itertools

from ..compare.status import passes
from .html_model import entry_worst, stage_css, tensor_css, tensor_order, to_float
from .html_page import status_word, badge, esc, fmt_bound, fmt_cos, fmt_num, fmt_ratio, fmt_sample, fmt_shape
from .html_predictions import predictions_block
from .html_summary import hint_html


def stage_section(model, group, opts):
    """One stage's <section>: heading, hints, isolation table, metrics table, pictures."""
    counts = ", ".join("%d %s" % (v, status_word(k)) for k, v in group.counts().items())
    worst = group.worst
    summary = "%d record%s: %s" % (len(group.entries), "" if len(group.entries) == 1 else "s", counts)
    if worst is not None and worst.max_abs is not None:
        summary += "; worst max |A-B| %s (sample %s)" % (fmt_bound(worst.max_abs, worst.max_abs_lower),
                                                         fmt_sample(worst.sample))
    is_first = model.first_entry is not None and model.first_entry.stage == group.name
    parts = ['<h2>%d. <span class="mono">%s</span> %s%s</h2><p class="summary">%s</p>'
             % (group.position + 1, esc(group.name), badge(status_word(group.status), stage_css(group.status)),
                " " + badge("first divergence", "bad") if is_first else "", summary)]
    drawn, listed, hidden = opts["plan"][group.name]
    shown_below = set(id(h) for e in drawn for h in e.hints)  # drawn entries show their own hints
    parts.extend(hint_html(h) for h in group.hints if id(h) not in shown_below)
    parts.append(predictions_block(model, group, opts))
    if group.isolated:
        parts.append(_isolation_table(group))
    parts.append(_metrics_table(listed, hidden, drawn, opts))
    for entry in drawn:
        parts.append(_entry_visuals(entry, opts))
    return '<section id="%s" class="stage%s" data-filter="%s" data-ok="%s">%s</section>' % (
        group.anchor, " first" if is_first else "", esc(str(group.name).lower()),
        "1" if passes(group.status) else "0", "\n".join(parts))


def plan(model, opts):
    """Decide, per stage, which entries get pictures and which get table rows.

    Returns ``{stage name: (drawn entries, listed entries, {status: count not listed})}``.
    Rows: every drawn entry and the first divergence (the verdict links to it), then worst first
    up to ``opts["max_rows"]``, aligned ones only up to ``opts["rows"]`` (aligned rows carry
    little news and dominate big aligned runs).
    """
    out = {}
    for group in model.stages:
        # Without the runs there is nothing to draw from: the tables alone are the report.
        drawn = _entries_to_draw(model, group, opts) if opts["index_a"] or opts["index_b"] else []
        drawn_ids = {e.index for e in drawn}
        listed, hidden, aligned_seen = [], {}, 0
        for entry in group.entries:
            if entry.status == "aligned":
                aligned_seen += 1
            keep = entry.index in drawn_ids or entry is model.first_entry or (
                len(listed) < opts["max_rows"] and (entry.status != "aligned" or aligned_seen <= opts["rows"]))
            if keep:
                listed.append(entry)
            else:
                hidden[entry.status] = hidden.get(entry.status, 0) + 1
        out[group.name] = (drawn, listed, hidden)
    return out


def _entries_to_draw(model, group, opts):
    """Entries that get pictures: the worst few, plus the first divergence."""
    chosen = list(itertools.islice((e for e in group.entries if e.comparison.tensors), opts["images"]))
    first = model.first_entry
    if first is not None and first.stage == group.name and first not in chosen:
        chosen.insert(0, first)  # the headline entry always gets its pictures
    return chosen


def _local_metrics(local):
    """(max_abs_diff, cosine) of a stage's local (isolated) error, however the dict nests it."""
    if isinstance(local, dict):
        tensors = local.get("tensors")
        if isinstance(tensors, list):
            return entry_worst({"tensors": tensors})
        if "max_abs_diff" in local or "cosine" in local:
            return to_float(local.get("max_abs_diff")), to_float(local.get("cosine"))
        subs = [v for v in local.values() if isinstance(v, dict)]
        if subs:
            return entry_worst({"tensors": subs})
    return None, None


def _isolation_table(group):
    """Local vs inherited error of each judged entry, from isolation replay."""
    rows, direction = [], None
    for entry in group.entries:
        if entry.status == "aligned" or (entry.local is None and entry.introduces is None):
            continue
        local = entry.local if isinstance(entry.local, dict) else {}
        direction = direction or local.get("direction")
        local_abs, local_cos = _local_metrics(local)
        if local.get("status") == "unavailable" or (entry.introduces is None and local.get("reason")):
            verdict = '%s <span class="summary">%s</span>' % (
                badge("not replayable", "unknown"), esc(local.get("reason") or ""))
        elif entry.introduces is None:
            verdict = '<span class="na">&mdash;</span>'
        elif entry.introduces:
            verdict = badge("introduces error here", "bad")
        else:
            verdict = badge("inherited from upstream", "missing")
        rows.append("<tr><td>%s</td><td class=num>%s</td><td class=num>%s</td><td class=num>%s</td>"
                    "<td>%s</td></tr>" % (fmt_sample(entry.sample), fmt_bound(entry.max_abs, entry.max_abs_lower),
                                          fmt_num(local_abs), fmt_cos(local_cos), verdict))
    how = ("Local: the stage's own error, with both sides given identical inputs%s. Inherited: the end-to-end "
           "difference, including what earlier stages passed on." % (" (%s)" % esc(direction) if direction else ""))
    return ('<div class="local"><h3>Local vs inherited error</h3><p class="summary">%s</p><table><tr>'
            '<th>sample</th><th>inherited max |A-B|</th><th>local max |A-B|</th><th>local cosine</th>'
            '<th>verdict</th></tr>%s</table></div>' % (how, "".join(rows)))


_TABLE_HEAD = ("<tr><th>sample</th><th>status</th><th>tensor</th><th>tensor status</th><th>max |A-B|</th>"
               "<th>mean |A-B|</th><th>cosine</th><th>PSNR dB</th><th>equal</th><th>min atol</th>"
               "<th>A</th><th>B</th></tr>")
_NCOLS = 12


def _metrics_table(listed, hidden, drawn, opts):
    """The per-tensor metrics table, worst entries first, long tails folded."""
    drawn_ids = {e.index for e in drawn}
    rows = [_entry_rows(entry, entry.index in drawn_ids) for entry in listed]
    more = ""
    if hidden:
        more = ('<p class="summary">Not listed (the JSON document has them all): %s.</p>'
                % ", ".join("%d %s" % (n, status_word(s)) for s, n in sorted(hidden.items())))
    shown, folded = rows[:opts["visible"]], rows[opts["visible"]:]
    html = "<h3>Metrics, worst first</h3><table>%s%s</table>" % (_TABLE_HEAD, "".join(shown))
    if folded:
        # Folded, not dropped: links to these rows open the fold (see _SCRIPT).
        html += ("<details><summary>%d more records</summary><table>%s%s</table></details>"
                 % (len(folded), _TABLE_HEAD, "".join(folded)))
    return html + more


def _entry_rows(entry, drawn):
    """Table rows of one entry: one per tensor, sample and status spanning them."""
    sample = fmt_sample(entry.sample)
    if entry.occurrence:
        sample += ' <span class="summary">call %d</span>' % entry.occurrence
    if drawn:
        sample += ' <a href="#vis-%d">view</a>' % entry.index
    status = badge(status_word(entry.status), stage_css(entry.status))
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
        if t.get("nonfinite_mismatch") and not t.get("notes"):
            tnotes += '<div class="nonfinite">%s NaN/inf on one side only</div>' % esc(t.get("nonfinite_mismatch"))
        out.append("<tr%s%s>%s<td class=mono>%s%s</td><td>%s</td><td class=num>%s</td><td class=num>%s</td>"
                   "<td class=num>%s</td><td class=num>%s</td><td class=num>%s</td><td class=num>%s</td>"
                   "<td class=nw>%s</td><td class=nw>%s</td></tr>"
                   % (rid, hl, lead, name, tnotes, badge(tstatus, tensor_css(tstatus)),
                      fmt_bound(t.get("max_abs_diff"), t.get("lower_bound")), fmt_num(t.get("mean_abs_diff")),
                      fmt_cos(t.get("cosine")),
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
                lines.append('<div class="cell-bad">%s raised %s</div>'
                             % (side.upper(), esc(_error_text(errors[side]))))
    elif raw.get("error"):
        lines.append('<div class="cell-bad">%s</div>' % esc(_error_text(raw.get("error"))))
    lines.extend('<div class="cell-note">%s</div>' % esc(n) for n in (raw.get("notes") or ()) if n)
    return "".join(lines)


def _error_text(err):
    if isinstance(err, dict):
        return "%s: %s" % (err.get("type", "error"), err.get("message", ""))
    return str(err) if err else ""


def _entry_visuals(entry, opts):
    """Pictures or plots of an entry's worst tensors (outputs first)."""
    from . import html_tensors

    head = '<h3>%s &middot; %s %s</h3>' % (esc(entry.stage), fmt_sample(entry.sample),
                                           badge(status_word(entry.status), stage_css(entry.status)))
    hints = "".join(hint_html(h) for h in entry.hints)
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
