"""Whole-run agreement of two detectors: COCO mAP@[.5:.95] of B's boxes scored against A's as ground truth.

The COCO definition (as pycocotools computes it for bbox, area range "all"): per image and category,
B's boxes by descending score (at most ``max_dets``) each take the unmatched A box with the highest
IoU at or above the threshold; per category over all images, precision is made monotone and read at
101 recall points; AP averages over categories that have A boxes and over IoU 0.50:0.05:0.95.
Images are the (sample, group) keys of both sides, so boxes on an image only B has are false positives.
"""
from __future__ import annotations

from collections import OrderedDict

import numpy as np

from .detections import iou_matrix

IOU_THRESHOLDS = np.linspace(0.5, 0.95, int(np.round((0.95 - 0.5) / 0.05)) + 1, endpoint=True)
_FLOORS = np.minimum(IOU_THRESHOLDS, 1 - 1e-10)
RECALL_POINTS = np.linspace(0.0, 1.00, int(np.round((1.00 - 0.0) / 0.01)) + 1, endpoint=True)
DEFINITION = ("COCO mAP@[.5:.95] (101-point interpolation, per category, area all, maxDets %d) "
              "of B's boxes scored against A's as ground truth")


def coco_map(pairs, max_dets=100):
    """MapResult for an iterable of (sample, a, b) or (a, b) with Detections a (ground truth) and b."""
    images = OrderedDict()  # (sample, group) -> [a boxes, a classes, b boxes, b scores, b classes] parts
    counts = [0, 0]
    for index, item in enumerate(pairs):
        sample, a, b = item if len(item) == 3 else (index, item[0], item[1])
        for side, det in ((0, a), (1, b)):
            counts[side] += len(det)
            classes = det.classes if det.classes is not None else np.zeros(len(det), np.int64)
            scores = det.scores if det.scores is not None else np.ones(len(det))
            for key, idx in det.by_group().items():
                if not len(idx):
                    continue
                parts = images.setdefault((sample, _plain(key)), [[], [], [], [], []])
                if side == 0:
                    parts[0].append(det.boxes[idx])
                    parts[1].append(classes[idx])
                else:
                    parts[2].append(det.boxes[idx])
                    parts[3].append(scores[idx])
                    parts[4].append(classes[idx])
    per_category = {}
    for image in _ordered(list(images)):
        gt_boxes, gt_cls, dt_boxes, dt_scores, dt_cls = (_concat(p) for p in images[image])
        for cat, evaluated in _evaluate_image(gt_boxes.reshape(-1, 4), gt_cls, dt_boxes.reshape(-1, 4),
                                              dt_scores, dt_cls, max_dets):
            per_category.setdefault(cat, []).append(evaluated)
    cat_order = _ordered(list(per_category))
    precision = -np.ones((len(IOU_THRESHOLDS), len(RECALL_POINTS), len(cat_order)))
    for k, cat in enumerate(cat_order):
        precision[:, :, k] = _accumulate(per_category[cat])
    return MapResult(precision, len(images), cat_order, counts, max_dets)


class MapResult:
    """mAP over IoU 0.50:0.95 plus AP50/AP75; None when A has no boxes (nothing to score against)."""

    def __init__(self, precision, images, categories, counts, max_dets):
        self.precision = precision
        self.images, self.categories = images, categories
        self.boxes_a, self.boxes_b = counts
        self.max_dets = max_dets

    def _mean(self, thresholds=None):
        p = self.precision if thresholds is None else self.precision[np.isclose(IOU_THRESHOLDS, thresholds)]
        valid = p[p > -1]
        return float(valid.mean()) if valid.size else None

    @property
    def map(self):
        return self._mean()

    @property
    def map50(self):
        return self._mean(0.5)

    @property
    def map75(self):
        return self._mean(0.75)

    def to_json(self):
        return {"metric": "coco_map", "map": self.map, "map50": self.map50, "map75": self.map75,
                "images": self.images, "categories": len(self.categories), "boxes_a": self.boxes_a,
                "boxes_b": self.boxes_b, "definition": DEFINITION % self.max_dets, "summary": self.summary()}

    def summary(self):
        if self.map is None:
            return "mAP not defined: A has no boxes to score B against"
        return "mAP@[.5:.95] of B against A: %.4f (AP50 %.4f, AP75 %.4f) over %d images" % (
            self.map, self.map50, self.map75, self.images)


def _evaluate_image(gt_boxes, gt_cls, dt_boxes, dt_scores, dt_cls, max_dets):
    """[(category, (scores (D,), matched (T, D), ignored (T, D), ground-truth boxes counted))] for one image.

    Categories never compete, so one IoU matrix (other classes masked out) serves them all; B's boxes
    are visited by descending score and at most ``max_dets`` per category are kept. As in COCO, a box
    whose area (w * h, negative for inverted boxes) lies outside [0, 1e10] is ignored: an A box is matched
    last and does not count as ground truth, an unmatched B box is no false positive.
    """
    order = np.argsort(-dt_scores, kind="mergesort")
    dt_boxes, dt_scores, dt_cls = dt_boxes[order], dt_scores[order], dt_cls[order]
    keep = _rank_within(dt_cls) < max_dets
    dt_boxes, dt_scores, dt_cls = dt_boxes[keep], dt_scores[keep], dt_cls[keep]
    gt_ignored = ~_area_ok(gt_boxes)
    shape = (len(IOU_THRESHOLDS), len(dt_boxes))
    matched, ignored = np.zeros(shape, bool), np.zeros(shape, bool)
    if len(gt_boxes) and len(dt_boxes):
        ious = np.where(dt_cls[:, None] == gt_cls[None, :], iou_matrix(dt_boxes, gt_boxes), -1.0)
        candidate = ious >= _FLOORS[0]
        if not gt_ignored.any() and (candidate.sum(0) <= 1).all() and (candidate.sum(1) <= 1).all():
            # No box has two partners at the lowest threshold: nothing competes, no greedy loop needed.
            best = ious.max(axis=1)
            matched = best[None, :] >= _FLOORS[:, None]
        else:
            _greedy(ious, gt_ignored, matched, ignored)
    ignored |= ~matched & ~_area_ok(dt_boxes)[None, :]
    out = []
    for cat in _ordered(list(set(gt_cls.tolist()) | set(dt_cls.tolist()))):
        d = dt_cls == cat
        n_gt = int(np.count_nonzero((gt_cls == cat) & ~gt_ignored))
        out.append((cat, (dt_scores[d], matched[:, d], ignored[:, d], n_gt)))
    return out


def _greedy(ious, gt_ignored, matched, ignored):
    """COCO's matching: per threshold, each B box in score order takes the free A box with the highest
    IoU at or above it, A boxes that count as ground truth before ignored ones."""
    taken = np.zeros((len(IOU_THRESHOLDS), ious.shape[1]), bool)
    rows = np.arange(len(IOU_THRESHOLDS))
    any_ignored = bool(gt_ignored.any())
    for d in range(ious.shape[0]):
        g = _best(ious[d], ~taken & ~gt_ignored[None, :])
        if any_ignored and np.any(g < 0):
            g = np.where(g < 0, _best(ious[d], ~taken & gt_ignored[None, :]), g)
        hit = g >= 0
        taken[rows[hit], g[hit]] = True
        matched[hit, d] = True
        ignored[hit, d] = gt_ignored[g[hit]]


def _rank_within(classes):
    """0-based position of each entry among the entries of its class, in array order."""
    rank = np.zeros(len(classes), np.int64)
    seen = {}
    for i, cat in enumerate(classes.tolist()):
        rank[i] = seen.get(cat, 0)
        seen[cat] = rank[i] + 1
    return rank


def _best(ious, allowed):
    """Per IoU threshold: index of the allowed box with the highest IoU >= threshold, the last one among
    equals (as COCO's loop keeps it), or -1."""
    candidates = np.where(allowed & (ious[None, :] >= _FLOORS[:, None]), ious[None, :], -1.0)
    best = candidates.max(axis=1)
    last = candidates.shape[1] - 1 - np.argmax(candidates[:, ::-1] == best[:, None], axis=1)
    return np.where(best >= 0, last, -1)


def _area_ok(boxes):
    area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    return (area >= 0) & (area <= 1e10)


def _accumulate(evaluated):
    """(T, R) interpolated precision for one category; -1 where the category has no ground truth."""
    out = -np.ones((len(IOU_THRESHOLDS), len(RECALL_POINTS)))
    n_gt = sum(e[3] for e in evaluated)
    if n_gt == 0:
        return out
    scores = np.concatenate([e[0] for e in evaluated])
    order = np.argsort(-scores, kind="mergesort")
    matched = np.concatenate([e[1] for e in evaluated], axis=1)[:, order]
    ignored = np.concatenate([e[2] for e in evaluated], axis=1)[:, order]
    tp = np.cumsum(matched & ~ignored, axis=1).astype(np.float64)
    fp = np.cumsum(~matched & ~ignored, axis=1).astype(np.float64)
    for t in range(len(IOU_THRESHOLDS)):
        q = np.zeros(len(RECALL_POINTS))
        if tp.shape[1]:
            recall = tp[t] / n_gt
            prec = tp[t] / (fp[t] + tp[t] + np.spacing(1))
            prec = np.maximum.accumulate(prec[::-1])[::-1]
            at = np.searchsorted(recall, RECALL_POINTS, side="left")
            valid = at < len(prec)
            q[valid] = prec[at[valid]]
        out[t] = q
    return out


def _concat(parts):
    return np.concatenate(parts) if parts else np.zeros(0)


def _plain(value):
    return value.item() if isinstance(value, np.generic) else value


def _ordered(keys):
    try:
        return sorted(keys)
    except TypeError:
        return keys  # keys of mixed types: first-seen order
