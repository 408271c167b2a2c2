"""Plain-text rendering of a diff: the stage table, hints, environment, and a one-line verdict.

No dependencies. Colours are ANSI escapes and are used only when the caller asks (the CLI asks
when stdout is a TTY).
"""
from __future__ import annotations

import sys
import time

_COLORS = {"green": "32", "red": "31", "yellow": "33", "dim": "2", "bold": "1"}
_STATUS_COLOR = {"aligned": "green", "diverged": "red", "error": "red", "similar": "yellow",
                 "only_in_a": "yellow", "only_in_b": "yellow"}
_STATUS_WORD = {"aligned": "aligned", "diverged": "DIVERGED", "error": "ERROR",
                "similar": "similar", "only_in_a": "only in A", "only_in_b": "only in B"}
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


def _stage_word(summary):
    """Status text of one stage row: the compared entries' verdict, then unpaired counts.

    A divergence where every failing tensor is SIMILAR reads "similar".
    """
    status = summary.status
    counts = summary.counts()
    word = status
    if status == "diverged":
        failing = [t for e in summary.entries if e.status == "diverged"
                   for t in e.failing_tensors()]
        if failing and all(t.status == "similar" for t in failing):
            word = "similar"
    text = _STATUS_WORD.get(word, word)
    compared = summary.compared
    if status in ("error", "diverged") and compared > 1:
        text += " %d/%d" % (counts.get(status, 0), compared)
    if status == "error" and counts.get("diverged"):
        text += ", %d %s" % (counts["diverged"], _STATUS_WORD["diverged"])
    for unpaired in ("only_in_a", "only_in_b"):
        if counts.get(unpaired) and unpaired != status:
            text += ", %d %s" % (counts[unpaired], _STATUS_WORD[unpaired])
        elif counts.get(unpaired, 0) > 1:
            text += " (%d)" % counts[unpaired]
    return text, word


def table_rows(result):
    """Rows ``(marker, stage, samples, status, max_abs, cosine, color)`` in run A's stage order."""
    first = result.first_divergence
    rows = []
    for summary in result.by_stage():
        if not summary.entries:
            continue
        worst_diff, worst_cos = summary.worst()
        samples = set(e.sample for e in summary.entries
                      if e.status not in ("only_in_a", "only_in_b"))
        text, word = _stage_word(summary)
        marker = MARKER if first is not None and first.stage == summary.stage else ""
        diff_text = fmt_diff(worst_diff)
        if worst_diff and _from_statistics(summary, worst_diff):
            diff_text = ">=" + diff_text  # stats-mode records only bound the difference from below
        rows.append((marker, summary.stage, str(len(samples)), text, diff_text,
                     fmt_cos(worst_cos), _STATUS_COLOR.get(word)))
    return rows


def _from_statistics(summary, value):
    """True when the worst max abs diff of a stage is a stats-mode lower bound."""
    return any(t.basis == "stats" and t.max_abs_diff == value
               for e in summary.entries for t in e.tensors)


def render_table(result, color=False, width=None):
    """The stage table alone."""
    header = ("", "stage", "samples", "status", "max abs diff", "cosine")
    rows = table_rows(result)
    widths = [max(len(header[i]), *(len(r[i]) for r in rows)) if rows else len(header[i])
              for i in range(6)]
    stage_cap = max(12, (width or 100) - sum(widths[i] for i in (0, 2, 3, 4, 5)) - 12)
    widths[1] = min(widths[1], stage_cap)

    def line(cells, color_name=None, bold=False):
        stage = cells[1] if len(cells[1]) <= widths[1] else cells[1][:widths[1] - 1] + "~"
        parts = [cells[0].ljust(widths[0]), stage.ljust(widths[1]), cells[2].rjust(widths[2]),
                 paint(cells[3].ljust(widths[3]), color_name, color), cells[4].rjust(widths[4]),
                 cells[5].rjust(widths[5])]
        text = "  ".join(parts).rstrip()
        return paint(text, "bold", color) if bold else text

    out = [line(header)]
    for row in rows:
        out.append(line(row[:6], row[6], bold=bool(row[0])))
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
    if entry.status == "error":
        err = entry.error_a or entry.error_b
        side = "A" if entry.error_a else "B"
        message = err.get("message") if isinstance(err, dict) else err
        err_type = err.get("type") if isinstance(err, dict) else "error"
        return text + ": raised %s in run %s: %s" % (err_type, side, message)
    tensor = entry.first_failing_tensor()
    if tensor is None:
        return text
    text += ", %s %s: %s" % (tensor.role or "tensor", tensor.name, tensor.status.upper())
    if tensor.status == "shape_mismatch":
        return text + " %s vs %s" % (tuple(tensor.shape_a or ()), tuple(tensor.shape_b or ()))
    details = []
    if tensor.max_abs_diff is not None:
        where = " at %s" % (tensor.max_abs_index,) if tensor.max_abs_index is not None else ""
        details.append("max abs diff %s%s" % (fmt_diff(tensor.max_abs_diff), where))
    if tensor.cosine is not None:
        details.append("cosine %s" % fmt_cos(tensor.cosine))
    if tensor.equal_ratio is not None and tensor.equal_ratio < 1:
        details.append("%.1f%% equal" % (100 * tensor.equal_ratio))
    if tensor.min_atol is not None and tensor.tolerance is not None:
        details.append("passes with atol >= %s (now %g)" % (fmt_diff(tensor.min_atol),
                                                            tensor.tolerance.atol))
    if details:
        text += " (" + ", ".join(details) + ")"
    if tensor.notes:
        text += "; " + "; ".join(tensor.notes)
    return text


def one_line(result):
    """The verdict in one line, as ``str(DiffResult)`` prints it."""
    summaries = [s for s in result.by_stage() if s.entries]
    n_aligned = sum(1 for s in summaries if all(e.status == "aligned" for e in s.entries))
    paired = result.samples.get("paired", 0)
    tail = "%d/%d stages aligned over %d paired sample(s) [%s vs %s]" % (
        n_aligned, len(summaries), paired, result.run_a, result.run_b)
    if result.passed:
        return "ALIGNED: " + tail
    first = result.first_divergence
    if first is not None:
        where = "stage %s, sample %s" % (first.stage, _show_key(first.sample))
        if first.tensor is not None:
            where += ", tensor %s" % first.tensor
        return "DIVERGED at %s; %s" % (where, tail)
    missing = [s.stage for s in summaries
               if any(e.status in ("only_in_a", "only_in_b") for e in s.entries)]
    return "NOT ALIGNED (unpaired stage calls: %s); %s" % (", ".join(missing), tail)


def render_hints(result):
    """Hint lines for the text report."""
    lines = []
    for hint in result.hints:
        where = hint.get("stage") or "?"
        if hint.get("tensor"):
            where += "." + str(hint["tensor"])
        confidence = hint.get("confidence")
        conf = " %.0f%%" % (100 * confidence) if isinstance(confidence, (int, float)) else ""
        lines.append("  %s [%s%s] %s (sample %s)" % (where, hint.get("cause"), conf,
                                                     hint.get("message"),
                                                     _show_key(hint.get("sample"))))
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
    isolation = getattr(result, "isolation", None)
    if isinstance(isolation, dict) and isolation.get("message"):
        out.append("isolation (replay): %s" % isolation["message"])
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
    verdict = "ALIGNED" if result.passed else ("DIVERGED" if result.first_divergence else
                                               "NOT ALIGNED")
    out.append(paint(verdict, "green" if result.passed else "red", color))
    return "\n".join(out)


class ProgressBar:
    """A progress bar on a TTY stream, shown only when the work lasts longer than ``delay_s``."""

    def __init__(self, stream=None, delay_s=0.5, width=30, label="diff"):
        self.stream = stream if stream is not None else sys.stderr
        self.delay_s = delay_s
        self.width = width
        self.label = label
        self.started = time.monotonic()
        self.last = 0.0
        self.shown = False

    def __call__(self, done, total):
        now = time.monotonic()
        if now - self.started < self.delay_s or (now - self.last < 0.1 and done < total):
            return
        self.last = now
        self.shown = True
        filled = int(self.width * done / total) if total else self.width
        self.stream.write("\r%s [%s%s] %d/%d stage calls" % (
            self.label, "#" * filled, "." * (self.width - filled), done, total))
        self.stream.flush()

    def close(self):
        """Erase the bar so the table starts on a clean line."""
        if self.shown:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
