"""nms: detection results whose box sets differ only by boxes near the IoU or score threshold."""
from __future__ import annotations

import numpy as np

from .hint import Hint

# Boxes on both sides are the same detection when they overlap this much (and share the class).
SAME_BOX_IOU = 0.9
# A box one side kept and the other suppressed must overlap a box both kept at least this much:
# NMS thresholds in practice lie between 0.3 and 0.7.
MIN_SUPPRESSING_IOU = 0.2


class Detections:
    """Boxes (N, 4) as x1y1x2y2, with optional scores (N,) and classes (N,)."""

    def __init__(self, boxes, scores=None, classes=None):
        self.boxes, self.scores, self.classes = boxes, scores, classes


def _find(outputs):
    """Pick boxes / scores / classes arrays out of a stage's named outputs, or None."""
    arrays = {}
    for name, value in outputs.items():
        try:
            arr = np.asarray(value)
        except Exception:
            continue
        if arr.dtype.kind in "uif":
            arrays[str(name)] = arr
    boxes = [(n, a) for n, a in arrays.items() if a.ndim == 2 and a.shape[1] in (4, 5, 6, 7)]
    if not boxes:
        boxes = [(n, a.reshape(-1, 4)) for n, a in arrays.items()
                 if a.ndim == 1 and a.size == 0]  # an empty detection list flattened to (0,)
    if not boxes:
        return None
    named = [b for b in boxes if any(w in b[0].lower() for w in ("box", "det", "bbox"))]
    name, arr = (named or boxes)[0]
    arr = arr.astype(np.float64)
    n = arr.shape[0]
    scores = arr[:, 4] if arr.shape[1] >= 5 else None
    classes = arr[:, 5] if arr.shape[1] >= 6 else None
    for other, a in arrays.items():
        if other == name or a.ndim != 1 or a.shape[0] != n:
            continue
        low = other.lower()
        if scores is None and ("score" in low or "conf" in low):
            scores = a.astype(np.float64)
        elif classes is None and any(w in low for w in ("class", "label", "cls", "categor")):
            classes = a.astype(np.float64)
    xyxy = arr[:, :4].copy()
    # cv2.dnn.NMSBoxes works on (x, y, w, h); x2 < x1 anywhere means the boxes are in that form.
    if n and (np.any(xyxy[:, 2] < xyxy[:, 0]) or np.any(xyxy[:, 3] < xyxy[:, 1])):
        xyxy[:, 2:] += xyxy[:, :2]
    return Detections(xyxy, scores, classes)


def iou_matrix(p, q):
    """IoU of every box in p (N,4) with every box in q (M,4), x1y1x2y2."""
    if len(p) == 0 or len(q) == 0:
        return np.zeros((len(p), len(q)))
    x1 = np.maximum(p[:, None, 0], q[None, :, 0])
    y1 = np.maximum(p[:, None, 1], q[None, :, 1])
    x2 = np.minimum(p[:, None, 2], q[None, :, 2])
    y2 = np.minimum(p[:, None, 3], q[None, :, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    area_p = (p[:, 2] - p[:, 0]) * (p[:, 3] - p[:, 1])
    area_q = (q[:, 2] - q[:, 0]) * (q[:, 3] - q[:, 1])
    union = area_p[:, None] + area_q[None, :] - inter
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(union > 0, inter / union, 0.0)


def _same_class(da, i, db, j):
    return da.classes is None or db.classes is None or da.classes[i] == db.classes[j]


def _match(da, db):
    ious = iou_matrix(da.boxes, db.boxes)
    pairs, used_a, used_b = [], set(), set()
    for flat in np.argsort(-ious, axis=None):
        i, j = np.unravel_index(flat, ious.shape)
        if ious[i, j] < SAME_BOX_IOU:
            break
        if i in used_a or j in used_b or not _same_class(da, i, db, j):
            continue
        pairs.append((int(i), int(j)))
        used_a.add(i)
        used_b.add(j)
    return pairs


def _explain_extra(keeper, other, extra):
    """Why `other` lacks the boxes `extra` that `keeper` kept: ("iou", v) or ("score", s) or None each."""
    reasons = []
    other_min_score = float(np.min(other.scores)) if other.scores is not None and len(other.scores) else None
    for i in extra:
        score = float(keeper.scores[i]) if keeper.scores is not None else None
        if len(other.boxes):
            ious = iou_matrix(keeper.boxes[i:i + 1], other.boxes)[0]
            candidates = [j for j in range(len(other.boxes)) if _same_class(keeper, i, other, j)
                          and (score is None or other.scores is None or other.scores[j] >= score)]
            overlap = float(max((ious[j] for j in candidates), default=0.0))
        else:
            overlap = 0.0
        # A score below everything the other side kept is the direct reason; overlap comes second.
        if score is not None and (other_min_score is None or score <= other_min_score):
            reasons.append(("score", overlap, score))
        elif overlap >= MIN_SUPPRESSING_IOU:
            reasons.append(("iou", overlap, score))
        else:
            reasons.append(None)
    return reasons


def diagnose(outputs_a, outputs_b):
    """An nms hint when the detections differ only by boxes near NMS thresholds, else []."""
    da, db = _find(outputs_a), _find(outputs_b)
    if da is None or db is None:
        return []
    pairs = _match(da, db)
    extra_a = [i for i in range(len(da.boxes)) if i not in {p[0] for p in pairs}]
    extra_b = [j for j in range(len(db.boxes)) if j not in {p[1] for p in pairs}]
    if not extra_a and not extra_b:
        return []
    reasons_a = _explain_extra(da, db, extra_a)
    reasons_b = _explain_extra(db, da, extra_b)
    if any(r is None for r in reasons_a + reasons_b):
        return []  # a box far from both thresholds differs: something other than NMS
    after = max((float(np.max(np.abs(da.boxes[i] - db.boxes[j]))) for i, j in pairs), default=0.0)
    details = {"matched": len(pairs), "only_in_a": len(extra_a), "only_in_b": len(extra_b),
               "after_max_abs": after}
    parts = []
    for side, other, reasons in (("A", "B", reasons_a), ("B", "A", reasons_b)):
        by_iou = [r[1] for r in reasons if r[0] == "iou"]
        by_score = [r[2] for r in reasons if r[0] == "score"]
        if by_iou:
            details["%s_kept_iou" % side.lower()] = [round(v, 4) for v in by_iou]
            parts.append("%s keeps %d box(es) overlapping a box %s kept with IoU %.3g-%.3g, which %s "
                         "suppressed (%s's IoU threshold is lower, or it compares differently)"
                         % (side, len(by_iou), other, min(by_iou), max(by_iou), other, other))
        if by_score:
            details["%s_kept_scores" % side.lower()] = [round(v, 5) for v in by_score]
            parts.append("%s keeps %d low-score box(es) (score %.3g-%.3g) below all of %s's, which %s "
                         "drops (%s's score threshold is higher)"
                         % (side, len(by_score), min(by_score), max(by_score), other, other, other))
    message = ("the box sets differ only near the NMS thresholds: %s; use the original's NMS and "
               "thresholds in the port (torchvision.ops.nms vs cv2.dnn.NMSBoxes differ in score "
               "filtering and box form)" % "; ".join(parts))
    confidence = 0.8 if pairs else 0.5
    return [Hint("nms", message, confidence, after, details)]
