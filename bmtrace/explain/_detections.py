"""Detection lists shared by the box diagnoses: find boxes/scores/classes, IoU, match A to B."""
from __future__ import annotations

import numpy as np

from ._arrays import as_numeric

# Boxes on both sides are the same detection when they overlap this much (and share the class).
SAME_BOX_IOU = 0.9
# Columns of a detection row: x1 y1 x2 y2 [score [class [...]]].
BOX_COLUMNS = (4, 5, 6, 7)


class Detections:
    """Boxes (N, 4) as x1y1x2y2, with optional scores (N,) and classes (N,), and the raw array."""

    def __init__(self, boxes, scores=None, classes=None, raw=None, xywh=False):
        self.boxes, self.scores, self.classes, self.raw, self.xywh = boxes, scores, classes, raw, xywh


def is_detection_array(x):
    """True for an (N, 4..7) numeric array: one detection per row."""
    return x is not None and x.ndim == 2 and x.shape[1] in BOX_COLUMNS


def from_outputs(outputs):
    """Pick boxes / scores / classes arrays out of a stage's named outputs, or None."""
    arrays = {}
    for name, value in outputs.items():
        arr = as_numeric(value) if not (hasattr(value, "size") and value.size == 0) else np.asarray(value)
        if arr is not None and arr.dtype.kind in "uif":
            arrays[str(name)] = arr
    boxes = [(n, a) for n, a in arrays.items() if is_detection_array(a)]
    if not boxes:
        boxes = [(n, a.reshape(-1, 4)) for n, a in arrays.items()
                 if a.ndim == 1 and a.size == 0]  # an empty detection list flattened to (0,)
    if not boxes:
        return None
    named = [b for b in boxes if any(w in b[0].lower() for w in ("box", "det", "bbox"))]
    name, arr = (named or boxes)[0]
    found = from_array(arr)
    n = arr.shape[0]
    for other, a in arrays.items():
        if other == name or a.ndim != 1 or a.shape[0] != n:
            continue
        low = other.lower()
        if found.scores is None and ("score" in low or "conf" in low):
            found.scores = a.astype(np.float64)
        elif found.classes is None and any(w in low for w in ("class", "label", "cls", "categor")):
            found.classes = a.astype(np.float64)
    return found


def from_array(arr):
    """Detections from one (N, 4..7) array: x1 y1 x2 y2 [score [class]]."""
    arr = np.asarray(arr, dtype=np.float64)
    scores = arr[:, 4] if arr.shape[1] >= 5 else None
    classes = arr[:, 5] if arr.shape[1] >= 6 else None
    xyxy = arr[:, :4].copy()
    # cv2.dnn.NMSBoxes works on (x, y, w, h); x2 < x1 anywhere means the boxes are in that form.
    xywh = bool(len(arr)) and bool(np.any(xyxy[:, 2] < xyxy[:, 0]) or np.any(xyxy[:, 3] < xyxy[:, 1]))
    if xywh:
        xyxy[:, 2:] += xyxy[:, :2]
    return Detections(xyxy, scores, classes, arr, xywh)


def pair(ev):
    """(Detections A, Detections B) from the tensor pair or, for stage evidence, the outputs."""
    if ev.a is not None and ev.b is not None:
        if is_detection_array(ev.xa) and is_detection_array(ev.xb) and \
                ev.xa.shape[1] == ev.xb.shape[1]:
            return from_array(ev.xa), from_array(ev.xb)
        return None
    if ev.outputs_a and ev.outputs_b:
        da, db = from_outputs(ev.outputs_a), from_outputs(ev.outputs_b)
        if da is not None and db is not None:
            return da, db
    return None


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


def same_class(da, i, db, j):
    """True when detection i of da and j of db carry the same class (or classes are unknown)."""
    return da.classes is None or db.classes is None or da.classes[i] == db.classes[j]


def match(da, db, min_iou=SAME_BOX_IOU):
    """Pairs (i, j) of the same detection on both sides, greedily by IoU, same class only."""
    ious = iou_matrix(da.boxes, db.boxes)
    pairs, used_a, used_b = [], set(), set()
    for flat in np.argsort(-ious, axis=None):
        i, j = np.unravel_index(flat, ious.shape)
        if ious[i, j] < min_iou:
            break
        if i in used_a or j in used_b or not same_class(da, i, db, j):
            continue
        pairs.append((int(i), int(j)))
        used_a.add(i)
        used_b.add(j)
    return pairs


def unmatched(da, db, pairs):
    """(indices only in A, indices only in B)."""
    in_a, in_b = {p[0] for p in pairs}, {p[1] for p in pairs}
    return [i for i in range(len(da.boxes)) if i not in in_a], \
        [j for j in range(len(db.boxes)) if j not in in_b]
