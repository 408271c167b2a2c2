"""Normalised predictions: what recognition returns and the comparisons consume."""
from __future__ import annotations

from collections import OrderedDict

import numpy as np

BOX_FORMATS = ("xyxy", "xywh", "cxcywh")


def to_xyxy(boxes, box_format):
    """(n, 4) boxes in ``box_format`` as float64 x1, y1, x2, y2."""
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    if box_format == "xyxy":
        return boxes.copy()
    if box_format == "xywh":
        return np.concatenate([boxes[:, :2], boxes[:, :2] + boxes[:, 2:]], axis=1)
    if box_format == "cxcywh":
        half = boxes[:, 2:] / 2.0
        return np.concatenate([boxes[:, :2] - half, boxes[:, :2] + half], axis=1)
    raise ValueError("unknown box format %r; use one of %s" % (box_format, ", ".join(BOX_FORMATS)))


class Detections:
    """Boxes of one recorded value, normalised.

    Attributes:
        boxes: (n, 4) float64, x1 y1 x2 y2 in the value's own pixel units.
        scores: (n,) float64, or None when the value has no scores.
        classes: (n,) int64 (float64 when not integral), or None when the value has no classes.
        groups: (n,) array of group keys (image_id, batch index, image index) or None.
        group_key: what ``groups`` holds, e.g. "image_id"; None without groups.
        box_format: the format the boxes were recorded in.
        how: one sentence saying what was recognised and what was guessed.
    """

    kind = "detections"

    def __init__(self, boxes, scores=None, classes=None, groups=None, group_key=None, box_format="xyxy",
                 how=""):
        self.boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
        n = len(self.boxes)
        self.scores = None if scores is None else _column(scores, n, "scores", np.float64)
        self.classes = None if classes is None else _class_column(classes, n)
        self.groups = None if groups is None else _column(groups, n, "groups", None)
        self.group_key = group_key if groups is not None else None
        self.box_format = box_format
        self.how = how

    def __len__(self):
        return len(self.boxes)

    def __repr__(self):
        return "<Detections n=%d%s: %s>" % (len(self), " by %s" % self.group_key if self.group_key else "", self.how)

    def select(self, index):
        """The detections at ``index`` (a boolean mask or integer indices)."""
        pick = lambda column: None if column is None else column[index]
        return Detections(self.boxes[index], pick(self.scores), pick(self.classes), pick(self.groups),
                          self.group_key, self.box_format, self.how)

    def by_group(self):
        """OrderedDict group key -> integer indices, in first-seen order; one group (None) without keys."""
        if self.groups is None:
            return OrderedDict([(None, np.arange(len(self)))])
        groups = OrderedDict()
        for i, key in enumerate(self.groups.tolist()):
            groups.setdefault(key, []).append(i)
        return OrderedDict((key, np.asarray(idx, dtype=np.int64)) for key, idx in groups.items())


class Classification:
    """One classification result, normalised.

    Either a score vector (``probs`` (C,), softmax applied when the value held logits) or only a top-1
    result (``label`` and ``score``, e.g. ``{"res": 751, "score": 0.9}``).
    """

    kind = "classification"

    def __init__(self, probs=None, label=None, score=None, softmax_applied=False, how=""):
        # a copy: top() keeps what it found, so the caller's array changing later must not change probs
        self.probs = None if probs is None else np.array(probs, dtype=np.float64).reshape(-1)
        if self.probs is not None:
            label = int(np.argmax(self.probs)) if label is None else label
            score = float(self.probs[label]) if score is None else score
        self.label = None if label is None else int(label)
        self.score = None if score is None else float(score)
        self.softmax_applied = softmax_applied
        self.how = how
        self._tops = {}  # k -> top(k)

    def __repr__(self):
        return "<Classification top-1 %s: %s>" % (self.label, self.how)

    def top(self, k):
        """Indices of the k highest probabilities (ties by lower index), or [label] without a vector."""
        if self.probs is None:
            return np.asarray([] if self.label is None else [self.label], dtype=np.int64)
        if k not in self._tops:  # a comparison and its report ask for the same k
            self._tops[k] = top_indices(self.probs, k)
        return self._tops[k].copy()

    def rank_of(self, label):
        """1-based rank of ``label`` in this result (1 = top-1); None when unknown."""
        if self.probs is None:
            return 1 if label == self.label else None
        if not 0 <= label < len(self.probs):
            return None
        return int(np.count_nonzero(self.probs > self.probs[label])) + 1


def top_indices(values, k):
    """``np.argsort(-values, kind="mergesort")[:k]``: the k largest first, ties by lower index.

    Only the values down to the k-th largest (with every value equal to it) are sorted: sorting a
    thousand class scores to keep five cost more than the rest of comparing two classifications.
    """
    negated = -values
    if not 0 < k < len(values) or np.isnan(negated).any():  # (argsort puts NaN last)
        return np.argsort(negated, kind="mergesort")[:k]
    kth = np.partition(negated, k - 1)[k - 1]
    candidates = np.flatnonzero(negated <= kth)  # in index order, so a stable sort keeps ties by index
    return candidates[np.argsort(negated[candidates], kind="mergesort")][:k]


def softmax(logits):
    """Softmax of a 1-D vector, shifted by its maximum so large logits do not overflow."""
    x = np.asarray(logits, dtype=np.float64)
    e = np.exp(x - np.max(x))
    return e / e.sum()


def _column(values, n, what, dtype):
    arr = np.asarray(values) if dtype is None else np.asarray(values, dtype=dtype)
    arr = arr.reshape(-1)
    if len(arr) != n:
        raise ValueError("%s has %d entries for %d boxes" % (what, len(arr), n))
    return arr


def _class_column(values, n):
    arr = _column(values, n, "classes", None)
    if arr.dtype.kind in "iub":
        return arr.astype(np.int64)
    if arr.dtype.kind == "f":
        finite = np.isfinite(arr)
        if finite.all() and np.all(arr == np.round(arr)):
            return arr.astype(np.int64)
        return arr.astype(np.float64)
    return arr  # strings (class names) compare by equality as they are


def larger(x, y):
    """The larger of two optional numbers (None when both are)."""
    if x is None:
        return y
    return x if y is None else max(x, y)
