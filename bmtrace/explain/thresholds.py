"""thresholds: detection sets that differ by boxes a confidence or IoU threshold (or multi-label) explains."""
from __future__ import annotations

import numpy as np

from ._box_reasons import differing_boxes
from .hint import Hint

THRESHOLD_KINDS = ("score", "iou", "multilabel")
# When the stage's inputs already differ, scores move a little on their own: only a clear gap
# (every extra box scores below this fraction of the other side's lowest) still shows a threshold.
INHERITED_GAP = 0.8


def diagnose(ev):
    """A thresholds hint when every box only one side kept is explained by a threshold, else []."""
    found = differing_boxes(ev)
    if found is None:
        return []
    da, db, pairs, why = found
    if any(r is None or r[0] not in THRESHOLD_KINDS for rs in why.values() for r in rs):
        return []  # something else (class-agnostic NMS, a different model) removed or added boxes
    if ev.inherited.inputs_differ and not _clear_gap(why, da, db):
        return []  # boxes near a threshold moved because the inputs differ, not the threshold
    details = {"matched": len(pairs), "only_in_a": len(why["A"]), "only_in_b": len(why["B"]),
               "after_max_abs": max((float(np.max(np.abs(da.boxes[i] - db.boxes[j])))
                                     for i, j in pairs), default=0.0)}
    parts = []
    for side, other, rs, keeper, dother in (("A", "B", why["A"], da, db), ("B", "A", why["B"], db, da)):
        by_score = [r[2] for r in rs if r[0] == "score"]
        by_iou = [r[1] for r in rs if r[0] == "iou"]
        labels = [r for r in rs if r[0] == "multilabel"]
        key = side.lower()
        if by_score:
            lowest_other = float(np.min(dother.scores)) if dother.scores is not None and len(dother.scores) else None
            details["%s_kept_scores" % key] = [round(v, 5) for v in by_score]
            details["%s_conf_threshold_at_most" % key] = round(min(by_score), 5)
            if lowest_other is not None:
                details["%s_conf_threshold_above" % other.lower()] = round(max(by_score), 5)
            parts.append("%s keeps %d box(es) scored %s that %s drops (%s's lowest kept score "
                         "%s): %s's confidence threshold is higher" % (
                             side, len(by_score), _span(by_score), other, other,
                             "%.3g" % lowest_other if lowest_other is not None else "n/a", other))
        if by_iou:
            details["%s_kept_iou" % key] = [round(v, 4) for v in by_iou]
            parts.append("%s keeps %d box(es) overlapping a kept box with IoU %s that %s "
                         "suppresses: %s's NMS IoU threshold is higher" % (
                             side, len(by_iou), _span(by_iou), other, side))
        if labels:
            details["%s_multilabel" % key] = len(labels)
            parts.append("%s keeps %d box(es) a second time with another class: %s is multi-label "
                         "(multi_label=True), %s single-label" % (side, len(labels), side, other))
    message = "; ".join(parts) + "; use the original's thresholds in the port"
    return [Hint("thresholds", message, 0.8 if pairs else 0.5, details["after_max_abs"], details)]


def _clear_gap(why, da, db):
    """True when the extras are multi-label twins, or score well below everything the other kept."""
    for side, rs in why.items():
        other = db if side == "A" else da
        for kind, _, score in rs:
            if kind == "multilabel":
                continue
            if kind != "score" or other.scores is None or not len(other.scores) or \
                    score > INHERITED_GAP * float(np.min(other.scores)):
                return False
    return True


def _span(values):
    lo, hi = min(values), max(values)
    return "%.3g" % lo if "%.3g" % lo == "%.3g" % hi else "%.3g-%.3g" % (lo, hi)
