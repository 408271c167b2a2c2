"""Renderings of an N-way diff (``bmtrace.diff.nway.NWayResult``): the stage x candidate matrix as text,
and an HTML page with the matrix linking to each candidate's verdict."""
from __future__ import annotations

import os
import re

from ..compare import status as vocabulary


def _label(path):
    parts = [p for p in str(path).replace("\\", "/").split("/") if p]
    return parts[-1] if parts else str(path)


def render_text(nway, color=False):
    """The stage x candidate matrix: status word and deciding max abs diff, ``>>`` at each first divergence."""
    from .text import fmt_diff, paint, _SEVERITY_COLOR

    labels = ["%d:%s" % (i, _label(r.run_b)) for i, r in enumerate(nway.results, 1)]
    header = ["stage"] + labels
    table = []
    for row in nway.matrix():
        cells = [row["stage"]]
        for cell in row["cells"]:
            if cell is None:
                cells.append(("-", None))
                continue
            diff_text = fmt_diff(cell["max_abs_diff"])
            if cell["lower_bound"] and cell["max_abs_diff"]:
                diff_text = ">=" + diff_text
            text = "%s%s %s" % (">>" if cell["first"] else "", cell["word"], diff_text)
            cells.append((text, _SEVERITY_COLOR.get(vocabulary.severity(cell["status"]))))
        table.append(cells)
    widths = [len(h) for h in header]
    for cells in table:
        widths[0] = max(widths[0], len(cells[0]))
        for i, (text, _c) in enumerate(cells[1:], 1):
            widths[i] = max(widths[i], len(text))
    lines = ["reference: %s" % nway.reference]
    lines += ["candidate %s: %s" % (label, r.run_b) for label, r in zip(labels, nway.results)]
    lines.append("")
    lines.append("  ".join(h.ljust(w) for h, w in zip(header, widths)).rstrip())
    for cells in table:
        parts = [cells[0].ljust(widths[0])]
        parts += [paint(text.ljust(w), colour, color) for (text, colour), w in zip(cells[1:], widths[1:])]
        lines.append("  ".join(parts).rstrip())
    lines.append("")
    for label, result in zip(labels, nway.results):
        lines.append("%s: %s" % (label, paint(result.one_line(),
                                              _SEVERITY_COLOR.get(vocabulary.severity(result.status)), color)))
    return "\n".join(lines)


def render_html(nway, title=None):
    """One page: the matrix (each column header links to its candidate's section), then per candidate
    its verdict banner, pipeline strip and warnings from the single-pair report."""
    from . import html_summary
    from .html_model import ReportModel, stage_css
    from .html_page import CSS, esc, fmt_num

    title = title or "bmtrace: %s vs %d candidates" % (_label(nway.reference), len(nway.results))
    head = "".join('<th><a href="#candidate-%d">%d: %s</a></th>' % (i, i, esc(_label(r.run_b)))
                   for i, r in enumerate(nway.results, 1))
    body_rows = []
    for row in nway.matrix():
        cells = []
        for cell in row["cells"]:
            if cell is None:
                cells.append('<td class="na">&mdash;</td>')
                continue
            cells.append('<td><span class="badge s-%s">%s%s</span> %s</td>' % (
                stage_css(cell["status"]), "&#9654; " if cell["first"] else "", esc(cell["word"]),
                fmt_num(cell["max_abs_diff"])))
        body_rows.append("<tr><td><code>%s</code></td>%s</tr>" % (esc(row["stage"]), "".join(cells)))
    sections = []
    for i, result in enumerate(nway.results, 1):
        model = ReportModel(result)
        parts = html_summary.verdict(model) + html_summary.strip(model) + html_summary.warnings_block(model)
        # the pieces link to stage sections of a single-pair page, which this page does not have
        parts = re.sub(r' href="#[^"]*"', "", parts).replace(' id="', ' id="c%d-' % i)
        sections.append('<section id="candidate-%d" class="block"><h2>%d: %s</h2>%s</section>' % (
            i, i, esc(result.run_b), parts))
    return ('<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><meta name="generator" content="bmtrace">'
            '<title>%s</title><style>%s</style></head><body><main><header><h1>%s</h1><div class="runs">'
            'reference <code>%s</code></div></header><section id="matrix" class="block"><h2>Stages x candidates'
            '</h2><table><thead><tr><th>stage</th>%s</tr></thead><tbody>%s</tbody></table>'
            '<p class="summary">&#9654; marks each candidate\'s first divergence; figures are the deciding max '
            'abs diff. Per-pair detail: <code>bmtrace report REF CANDIDATE</code>.</p></section>%s</main>'
            '</body></html>\n' % (esc(title), CSS, esc(title), esc(nway.reference), head, "".join(body_rows),
                                  "".join(sections)))


def save_html(nway, path, title=None):
    """Write ``render_html(nway)`` to ``path``; returns the path."""
    from ..errors import UsageError

    text = render_html(nway, title)
    path = os.fspath(path)
    try:
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(text)
    except OSError as exc:
        raise UsageError("cannot write the HTML report to %s: %s" % (path, exc.strerror or exc)) from None
    return path
