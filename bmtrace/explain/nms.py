"""nms: detection sets that differ because one side's NMS is class-agnostic and the other's per class."""
from __future__ import annotations

import numpy as np

from . import _detections
from ._box_reasons import reasons
from .hint import Hint


def diagnose(ev):
    """An nms hint when boxes one side kept overlap a higher-scored box of another class, else []."""
    found = _detections.pair(ev)
    if found is None:
        return []
    da, db = found
    pairs = _detections.match(da, db)
    extra_a, extra_b = _detections.unmatched(da, db, pairs)
    if not extra_a and not extra_b:
        return []
    why = {"A": reasons(da, db, extra_a), "B": reasons(db, da, extra_b)}
    flat = [r for rs in why.values() for r in rs]
    if any(r is None for r in flat) or not any(r[0] == "agnostic" for r in flat):
        return []
    per_class = [side for side, rs in why.items() if any(r[0] == "agnostic" for r in rs)]
    if len(per_class) != 1:
        return []  # both sides keep cross-class overlaps the other drops: not one NMS mode
    side = per_class[0]
    other = "B" if side == "A" else "A"
    overlaps = [r[1] for r in why[side] if r[0] == "agnostic"]
    details = {"matched": len(pairs), "only_in_a": len(extra_a), "only_in_b": len(extra_b),
               "per_class_side": side, "cross_class_iou": [round(v, 4) for v in overlaps],
               "after_max_abs": max((float(np.max(np.abs(da.boxes[i] - db.boxes[j])))
                                     for i, j in pairs), default=0.0)}
    message = ("%s keeps %d box(es) overlapping a higher-scored box of another class (IoU %.3g-%.3g) "
               "that %s suppresses: %s's NMS is class-agnostic, %s's per class (batched_nms); use the "
               "original's NMS mode" % (side, len(overlaps), min(overlaps), max(overlaps), other,
                                        other, side))
    return [Hint("nms", message, 0.8 if pairs else 0.5, details["after_max_abs"], details)]
