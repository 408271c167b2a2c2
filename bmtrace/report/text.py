"""Plain-text rendering of a diff: the stage table, hints, environment, and a one-line verdict.

No dependencies. Colours are ANSI escapes and are used only when the caller asks (the CLI asks
when stdout is a TTY).
"""
from __future__ import annotations

from ..compare import status as vocabulary

_COLORS = {"green": "32", "red": "31", "yellow": "33", "dim": "2", "bold": "1"}
# Severity (bmtrace.compare.status) -> colour.
_SEVERITY_COLOR = {"ok": "green", "warn": "yellow", "missing": "yellow", "bad": "red", "error": "red"}
MARKER = ">>"


def paint(text, color, enabled):
    """Wrap ``text`` in an ANSI colour when ``enabled``."""
    if not enabled or not color:
        return text
    return "\x1b[%sm%s\x1b[0m" % (_COLORS[color], text)


def fmt_diff(value):
    """Max abs diff for a table cell."""
    if value is None:
        return "-"
    if value == 0:
        return "0"
    return "%.4g" % value


def fmt_cos(value):
    """Cosine for a table cell (6 decimals show how far from 1 it is)."""
    return "-" if value is None else "%.6f" % value


def _show_key(key):
    return "(no sample)" if key is None else str(key)


def table_rows(result):
    """Rows ``(marker, stage, samples, status, max_abs, cosine, why, colour)`` in run A's stage order.

    Each row shows the figures of the tensor that decides the stage's status, and why when the
    figures cannot say it (a shape mismatch, NaN on one side, a stats-mode bound).
    """
    first = result.first_divergence
    rows = []
    for summary in result.by_stage():
        max_abs, cosine, lower, reason = summary.figures()
        marker = MARKER if first is not None and first.stage == summary.stage else ""
        diff_text = fmt_diff(max_abs)
        if lower and max_abs:
            diff_text = ">=" + diff_text  # stats-mode records only bound the difference from below
        predictions = (result.predictions or {}).get(summary.stage)
        why = "; ".join(part for part in (reason, predictions and "predictions: " + predictions["summary"],
                                          summary.ops()) if part)
        rows.append((marker, summary.stage, str(summary.samples_compared), summary.status_text(), diff_text,
                     fmt_cos(cosine), why, _SEVERITY_COLOR.get(vocabulary.severity(summary.status))))
    return rows


def render_table(result, color=False, width=None):
    """The stage table alone."""
    header = ("", "stage", "samples", "status", "max abs diff", "cosine", "why")
    rows = table_rows(result)
    widths = [max(len(header[i]), *(len(r[i]) for r in rows)) if rows else len(header[i])
              for i in range(7)]
    stage_cap = max(12, (width or 100) - sum(widths[i] for i in (0, 2, 3, 4, 5, 6)) - 12)
    widths[1] = min(widths[1], stage_cap)

    def line(cells, color_name=None, bold=False):
        stage = cells[1] if len(cells[1]) <= widths[1] else cells[1][:widths[1] - 1] + "~"
        parts = [cells[0].ljust(widths[0]), stage.ljust(widths[1]), cells[2].rjust(widths[2]),
                 paint(cells[3].ljust(widths[3]), color_name, color), cells[4].rjust(widths[4]),
                 cells[5].rjust(widths[5]), cells[6]]
        text = "  ".join(parts).rstrip()
        return paint(text, "bold", color) if bold else text

    out = [line(header)]
    for row in rows:
        out.append(line(row[:7], row[7], bold=bool(row[0])))
    return "\n".join(out)


def describe_first(result):
    """One sentence about the first divergence (None when there is none)."""
    first = result.first_divergence
    if first is None:
        return None
    entry = first.entry
    text = "first divergence: stage %s" % first.stage
    if first.occurrence:
        text += " (call #%d)" % (first.occurrence + 1)
    text += ", sample %s" % _show_key(first.sample)
    if entry.status == "error" and (entry.error_a or entry.error_b):
        err = entry.error_a or entry.error_b
        side = "A" if entry.error_a else "B"
        message = err.get("message") if isinstance(err, dict) else err
        err_type = err.get("type") if isinstance(err, dict) else "error"
        return text + ": raised %s in run %s only: %s" % (err_type, side, message)
    predictions = entry.extra.get("predictions")
    if isinstance(predictions, dict) and predictions.get("kind") == "detections":
        return text + ": detections differ: %s" % predictions.get("summary")
    tensor = entry.first_failing_tensor()
    if tensor is None:
        return text
    if first.before_stage:
        text = ("first divergence: before stage %s, sample %s: its input %s already differs and no traced "
                "stage produced it; trace the step that makes %s" % (first.stage, _show_key(first.sample),
                                                                      tensor.name, tensor.name))
    text += ", %s %s: %s" % (tensor.role or "tensor", tensor.name, tensor.status.upper())
    details = []
    reason = tensor.reason()
    if reason:
        details.append(reason)
    if tensor.max_abs_diff is not None:
        where = " at %s" % (tensor.max_abs_index,) if tensor.max_abs_index is not None else ""
        bound = ">=" if tensor.is_lower_bound() else ""
        details.append("max abs diff %s%s%s" % (bound, fmt_diff(tensor.max_abs_diff), where))
    if tensor.cosine is not None:
        details.append("cosine %s" % fmt_cos(tensor.cosine))
    if tensor.equal_ratio is not None and tensor.equal_ratio < 1:
        details.append("%.1f%% equal" % (100 * tensor.equal_ratio))
    if (tensor.min_atol is not None and tensor.tolerance is not None and not tensor.is_lower_bound()
            and tensor.status in ("similar", "diverged") and tensor.min_atol > tensor.tolerance.atol):
        details.append("passes with atol >= %s (now %g)" % (fmt_diff(tensor.min_atol), tensor.tolerance.atol))
    if details:
        text += " (" + ", ".join(details) + ")"
    notes = [n for n in tensor.notes if n != reason]
    if notes:
        text += "; " + "; ".join(notes)
    return text


def render_hints(result):
    """Hint lines for the text report."""
    lines = []
    for hint in result.hints:
        where = hint.get("stage") or "?"
        if hint.get("tensor"):
            where += "." + str(hint["tensor"])
        confidence = hint.get("confidence")
        conf = " %.0f%%" % (100 * confidence) if isinstance(confidence, (int, float)) else ""
        samples = hint.get("samples") or 0
        seen = "sample %s" % _show_key(hint.get("sample"))
        if samples > 1:
            seen += ", and %d more sample%s" % (samples - 1, "s" if samples > 2 else "")
        lines.append("  %s [%s%s] %s (%s)" % (where, hint.get("cause"), conf, hint.get("message"), seen))
    return lines


def render(result, color=False, width=None):
    """The full text report: header, table, first divergence, hints, environment, warnings."""
    from ..compare.environment import environment_lines

    side_a = " (%s)" % result.side_a if result.side_a else ""
    side_b = " (%s)" % result.side_b if result.side_b else ""
    samples = result.samples
    out = ["A: %s%s" % (result.run_a, side_a), "B: %s%s" % (result.run_b, side_b)]
    line = "samples: %d paired" % samples.get("paired", 0)
    for key, label in (("only_in_a", "only in A"), ("only_in_b", "only in B")):
        keys = samples.get(key) or []
        if keys:
            shown = ", ".join(_show_key(k) for k in keys[:5]) + (", ..." if len(keys) > 5 else "")
            line += "; %d %s (%s)" % (len(keys), label, shown)
    out.append(line)
    out.append("")
    out.append(render_table(result, color=color, width=width))
    out.append("")
    first = describe_first(result)
    if first:
        out.append(paint(first, "red", color))
    if result.task:
        out.append("task effect: %s" % result.task["message"])
    isolation = getattr(result, "isolation", None)
    if isinstance(isolation, dict) and isolation.get("message"):
        methods = sorted(set(v for v in (isolation.get("tested_by") or {}).values() if v)) or ["replay"]
        out.append("isolation (%s): %s" % (" + ".join(methods), isolation["message"]))
    hints = render_hints(result)
    if hints:
        out.append("hints:")
        out.extend(hints)
    env = environment_lines(result.environment or {})
    if env:
        out.append("environment differences:")
        out.extend("  " + e for e in env)
    if result.warnings:
        out.append("warnings:")
        out.extend("  " + w for w in result.warnings[:20])
        if len(result.warnings) > 20:
            out.append("  ... %d more (see --json)" % (len(result.warnings) - 20))
    out.append(paint(result.verdict, _SEVERITY_COLOR.get(vocabulary.severity(result.status)), color))
    return "\n".join(out)
