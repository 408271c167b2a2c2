"""Why one side kept a detection the other dropped: score, IoU, multi-label or class-agnostic NMS."""
from __future__ import annotations

import numpy as np

from ._detections import SAME_BOX_IOU, iou_matrix, same_class

# A box one side kept and the other suppressed must overlap a box both kept at least this much:
# NMS thresholds in practice lie between 0.3 and 0.7.
MIN_SUPPRESSING_IOU = 0.2


def reasons(keeper, other, extra):
    """One reason per extra box of `keeper` missing from `other`.

    Each reason is (kind, overlap, score) with kind in "score" (below everything the other kept),
    "multilabel" (the same box kept again with another class), "iou" (overlaps a same-class box the
    other kept with a higher score), "agnostic" (overlaps a higher-scored box of another class), or
    None when nothing explains it.
    """
    out = []
    other_min = float(np.min(other.scores)) if other.scores is not None and len(other.scores) else None
    own = iou_matrix(keeper.boxes, keeper.boxes) if len(extra) else None
    for i in extra:
        score = float(keeper.scores[i]) if keeper.scores is not None else None
        if own is not None and keeper.classes is not None:
            twins = [j for j in range(len(keeper.boxes)) if j != i and own[i, j] >= SAME_BOX_IOU
                     and keeper.classes[j] != keeper.classes[i]]
            if twins:
                out.append(("multilabel", float(own[i, twins[0]]), score))
                continue
        if score is not None and (other_min is None or score <= other_min):
            out.append(("score", 0.0, score))
            continue
        ious = iou_matrix(keeper.boxes[i:i + 1], other.boxes)[0] if len(other.boxes) else np.zeros(0)
        stronger = [j for j in range(len(other.boxes))
                    if score is None or other.scores is None or other.scores[j] >= score]
        same = [ious[j] for j in stronger if same_class(keeper, i, other, j)]
        cross = [ious[j] for j in stronger if not same_class(keeper, i, other, j)]
        if same and max(same) >= MIN_SUPPRESSING_IOU:
            out.append(("iou", float(max(same)), score))
        elif cross and max(cross) >= MIN_SUPPRESSING_IOU:
            out.append(("agnostic", float(max(cross)), score))
        else:
            out.append(None)
    return out


def differing_boxes(ev):
    """``(da, db, pairs, why)`` for a pair of detection outputs whose box sets differ, else None.

    ``why`` maps "A"/"B" to the reason (see ``reasons``) of each box only that side kept.
    """
    from . import _detections

    found = _detections.pair(ev)
    if found is None:
        return None
    da, db = found
    pairs = _detections.match(da, db)
    extra_a, extra_b = _detections.unmatched(da, db, pairs)
    if not extra_a and not extra_b:
        return None
    return da, db, pairs, {"A": reasons(da, db, extra_a), "B": reasons(db, da, extra_b)}
