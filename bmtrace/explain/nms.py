"""nms: detection sets that differ because one side's NMS is class-agnostic and the other's per class."""
from __future__ import annotations

import numpy as np

from ._box_reasons import differing_boxes
from .hint import Hint


def diagnose(ev):
    """An nms hint when boxes one side kept overlap a higher-scored box of another class, else []."""
    found = differing_boxes(ev)
    if found is None:
        return []
    da, db, pairs, why = found
    flat = [r for rs in why.values() for r in rs]
    if any(r is None for r in flat) or not any(r[0] == "agnostic" for r in flat):
        return []
    per_class = [side for side, rs in why.items() if any(r[0] == "agnostic" for r in rs)]
    if len(per_class) != 1:
        return []  # both sides keep cross-class overlaps the other drops: not one NMS mode
    side = per_class[0]
    other = "B" if side == "A" else "A"
    overlaps = [r[1] for r in why[side] if r[0] == "agnostic"]
    details = {"matched": len(pairs), "only_in_a": len(why["A"]), "only_in_b": len(why["B"]),
               "per_class_side": side, "cross_class_iou": [round(v, 4) for v in overlaps],
               "after_max_abs": max((float(np.max(np.abs(da.boxes[i] - db.boxes[j])))
                                     for i, j in pairs), default=0.0)}
    message = ("%s keeps %d box(es) overlapping a higher-scored box of another class (IoU %.3g-%.3g) "
               "that %s suppresses: %s's NMS is class-agnostic, %s's per class (batched_nms); use the "
               "original's NMS mode" % (side, len(overlaps), min(overlaps), max(overlaps), other,
                                        other, side))
    return [Hint("nms", message, 0.8 if pairs else 0.5, details["after_max_abs"], details)]
