"""Compare two sets of detections in task terms: which boxes match, how far they moved, what is missing.

Matching is greedy by score within class: A's boxes in descending score (ties in recorded order) each
take the still unmatched B box of the same class (and the same image group) with the highest IoU, if
that IoU reaches the match threshold. Unmatched boxes that overlap a box of another class count as
class flips, not as missing/extra. A box only one side has is "below the other side's lowest score"
when its score is lower than every score the other side kept: the mark of a confidence threshold
difference.
"""
from __future__ import annotations

import math
from collections import namedtuple

import numpy as np

from ..compare.results import json_number

from .values import Detections, larger

MATCH_IOU = 0.5
FLIP_IOU = 0.5
MOVED_PX = 1.0
_PX_SLACK = 1e-4  # float32 coordinates: a 1-px shift can read as 0.99998

Verdict = namedtuple("Verdict", "agrees reason")


def iou_matrix(a, b):
    """IoU of every xyxy box in ``a`` (n, 4) with every box in ``b`` (m, 4); zero-area boxes give 0."""
    a, b = np.asarray(a, np.float64).reshape(-1, 4), np.asarray(b, np.float64).reshape(-1, 4)
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.prod(np.clip(rb - lt, 0, None), axis=2)
    area = lambda x: np.clip(x[:, 2] - x[:, 0], 0, None) * np.clip(x[:, 3] - x[:, 1], 0, None)
    union = area(a)[:, None] + area(b)[None, :] - inter
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)


def compare_detections(a, b, iou=MATCH_IOU):
    """DetectionComparison of one sample's Detections ``a`` (reference) and ``b``."""
    result = DetectionComparison(match_iou=iou)
    result.samples = 1
    result.boxes_a, result.boxes_b = len(a), len(b)
    result.a, result.b = a, b
    groups_a, groups_b = _groups(a, b, result.notes)
    pairs, flips, missing, extra = [], [], [], []
    for key in list(groups_a) + [k for k in groups_b if k not in groups_a]:
        ia = groups_a.get(key, np.zeros(0, np.int64))
        ib = groups_b.get(key, np.zeros(0, np.int64))
        p, f, m, e = _match_group(a, b, ia, ib, iou)
        pairs += p
        flips += f
        missing += m
        extra += e
    result.pairs = np.asarray(pairs, np.int64).reshape(-1, 2)
    result.flips = np.asarray(flips, np.int64).reshape(-1, 2)
    result.missing_idx = np.asarray(missing, np.int64)
    result.extra_idx = np.asarray(extra, np.int64)
    result._measure()
    return result


def merge(comparisons):
    """One DetectionComparison summing per-sample ones (counts add, extremes combine)."""
    total = DetectionComparison(match_iou=None)
    for item in comparisons:
        total.match_iou = item.match_iou if total.match_iou is None else total.match_iou
        for name in ("samples", "boxes_a", "boxes_b", "matched", "missing", "extra", "class_flips", "moved_1px",
                     "below_missing", "below_extra", "_coord_sum", "_coord_count"):
            setattr(total, name, getattr(total, name) + getattr(item, name))
        total._ious = np.concatenate([total._ious, item._ious])
        total.max_coord_diff = larger(total.max_coord_diff, item.max_coord_diff)
        total.max_score_diff = larger(total.max_score_diff, item.max_score_diff)
        for note in item.notes:
            if note not in total.notes:
                total.notes.append(note)
    if total.match_iou is None:
        total.match_iou = MATCH_IOU
    return total


class DetectionComparison:
    """Outcome of comparing detections: counts, IoU distribution, coordinate and score deltas.

    Per-sample results keep the matched index pairs (``pairs``), class flips (``flips``) and the indices
    of ``missing`` (A only) and ``extra`` (B only) boxes for drawing; merged results keep only figures.
    """

    def __init__(self, match_iou=MATCH_IOU):
        self.match_iou = match_iou
        self.samples = self.boxes_a = self.boxes_b = 0
        self.matched = self.missing = self.extra = self.class_flips = self.moved_1px = 0
        self.below_missing = self.below_extra = 0
        self.max_coord_diff = self.max_score_diff = None
        self.notes = []
        self._ious = np.zeros(0)
        self._coord_sum, self._coord_count = 0.0, 0
        self.a = self.b = None
        self.pairs = self.flips = np.zeros((0, 2), np.int64)
        self.missing_idx = self.extra_idx = np.zeros(0, np.int64)

    merge = staticmethod(merge)

    @property
    def iou_min(self):
        return float(self._ious.min()) if len(self._ious) else None

    @property
    def iou_p50(self):
        return float(np.median(self._ious)) if len(self._ious) else None

    @property
    def mean_coord_diff(self):
        return self._coord_sum / self._coord_count if self._coord_count else None

    def _measure(self):
        a, b, pairs = self.a, self.b, self.pairs
        self.matched, self.class_flips = len(pairs), len(self.flips)
        self.missing, self.extra = len(self.missing_idx), len(self.extra_idx)
        if len(pairs):
            ia, ib = pairs[:, 0], pairs[:, 1]
            self._ious = np.diag(_overlap(a.boxes[ia], b.boxes[ib])).copy()
            delta = np.abs(a.boxes[ia] - b.boxes[ib])
            self.max_coord_diff = float(delta.max())
            self._coord_sum, self._coord_count = float(delta.sum()), int(delta.size)
            self.moved_1px = int(np.count_nonzero(delta.max(axis=1) >= MOVED_PX - _PX_SLACK))
            if a.scores is not None and b.scores is not None:
                self.max_score_diff = float(np.abs(a.scores[ia] - b.scores[ib]).max())
        self.below_missing = _below(a, self.missing_idx, b)
        self.below_extra = _below(b, self.extra_idx, a)

    def to_json(self, detail=False):
        """The JSON contract; ``detail`` adds each side's boxes with their status (per-sample results)."""
        doc = {
            "kind": "detections",
            "samples": self.samples,
            "boxes_a": self.boxes_a,
            "boxes_b": self.boxes_b,
            "matched": self.matched,
            "missing": self.missing,
            "extra": self.extra,
            "iou_min": json_number(self.iou_min),
            "iou_p50": json_number(self.iou_p50),
            "max_coord_diff": json_number(self.max_coord_diff),
            "mean_coord_diff": json_number(self.mean_coord_diff),
            "moved_1px": self.moved_1px,
            "max_score_diff": json_number(self.max_score_diff),
            "class_flips": self.class_flips,
            "below_other_min_score": {"missing": self.below_missing, "extra": self.below_extra},
            "matching": "greedy by score within class, IoU >= %g" % self.match_iou,
            "summary": self.summary(),
            "notes": list(self.notes),
        }
        if self.a is not None:
            doc["recognized"] = {"a": self.a.how, "b": self.b.how}
        if detail and self.a is not None:
            doc["boxes"] = self.boxes_detail()
        return doc

    def boxes_detail(self):
        """Each side's boxes as {"box": [x1, y1, x2, y2], "score", "class", "status", "partner"} lists.

        status is "matched", "class_flip", "missing" (A only) or "extra" (B only); partner is the index
        of the box on the other side, or None.
        """
        side = {"a": [None] * len(self.a), "b": [None] * len(self.b)}
        for status, rows in (("matched", self.pairs), ("class_flip", self.flips)):
            for i, j in rows.tolist():
                side["a"][i], side["b"][j] = (status, j), (status, i)
        for i in self.missing_idx.tolist():
            side["a"][i] = ("missing", None)
        for j in self.extra_idx.tolist():
            side["b"][j] = ("extra", None)
        out = {}
        for name, det in (("a", self.a), ("b", self.b)):
            out[name] = [{"box": [round(float(v), 3) for v in det.boxes[i]],
                          "score": None if det.scores is None else json_number(det.scores[i]),
                          "class": None if det.classes is None else _plain(det.classes[i]),
                          "group": None if det.groups is None else _plain(det.groups[i]),
                          "status": side[name][i][0], "partner": side[name][i][1]} for i in range(len(det))]
        return out

    def summary(self):
        """One line, e.g. "696/696 boxes matched at IoU >= 0.96; 229 moved >= 1 px; 0 missing, 0 extra; ..."."""
        if self.boxes_a == 0 and self.boxes_b == 0:
            return "no boxes on either side"
        parts = ["%d/%d boxes matched" % (self.matched, self.boxes_a)]
        if self.matched:
            parts[0] += " at IoU >= %.2f" % (math.floor(self.iou_min * 100) / 100)
            parts.append("%d moved >= 1 px" % self.moved_1px)
        parts.append("%s, %s" % (_unmatched(self.missing, self.below_missing, "missing", "B"),
                                 _unmatched(self.extra, self.below_extra, "extra", "A")))
        if self.class_flips:
            parts.append("%d class flip%s" % (self.class_flips, "s" if self.class_flips > 1 else ""))
        if self.max_score_diff is not None:
            parts.append("score |d| <= %.2g" % self.max_score_diff)
        return "; ".join(parts)

    def verdict(self, iou=MATCH_IOU, score=None):
        """Verdict(agrees, reason): every box matched at IoU >= ``iou`` (and score |d| <= ``score``), no
        class flips, nothing missing or extra."""
        problems = []
        if self.missing or self.extra:
            problems.append("%d missing, %d extra" % (self.missing, self.extra))
        if self.class_flips:
            problems.append("%d class flips" % self.class_flips)
        if self.matched and self.iou_min < iou - 1e-12:
            problems.append("%d matched boxes below IoU %g (min %.3f)"
                            % (int(np.count_nonzero(self._ious < iou - 1e-12)), iou, self.iou_min))
        if score is not None and self.max_score_diff is not None and self.max_score_diff > score:
            problems.append("score |d| %.2g > %g" % (self.max_score_diff, score))
        if problems:
            return Verdict(False, "predictions differ: " + "; ".join(problems))
        return Verdict(True, "predictions agree within IoU >= %g%s: %s"
                       % (iou, "" if score is None else " and score |d| <= %g" % score, self.summary()))


def _groups(a, b, notes):
    """Index groups of both sides: by their shared group key, else one group each (with a note why)."""
    if a.group_key and a.group_key == b.group_key:
        ga, gb = a.by_group(), b.by_group()
        return _keyed(ga), _keyed(gb)
    for det, side, other in ((a, "A", "B"), (b, "B", "A")):
        if det.group_key and not (a.group_key and b.group_key):
            notes.append("%s only in %s: boxes matched across the whole record" % (det.group_key, side))
    if a.group_key and b.group_key:
        notes.append("A groups by %s, B by %s: boxes matched across the whole record" % (a.group_key, b.group_key))
    return {None: np.arange(len(a))}, {None: np.arange(len(b))}


def _keyed(groups):
    # Keys as recorded may be numpy scalars on one side and Python values on the other.
    return dict((_plain(key), idx) for key, idx in groups.items())


def _match_group(a, b, ia, ib, iou):
    """(pairs, flips, missing, extra) index lists for one group."""
    if not len(ia) or not len(ib):
        return [], [], ia.tolist(), ib.tolist()
    overlap = _overlap(a.boxes[ia], b.boxes[ib])
    same = _same_class(a, b, ia, ib)
    order = _score_order(a, ia)
    taken_b = np.zeros(len(ib), bool)
    pairs, left_a = [], []
    for r in order:
        candidates = np.where(same[r] & ~taken_b & (overlap[r] >= iou), overlap[r], -1.0)
        c = int(np.argmax(candidates))
        if candidates[c] < 0:
            left_a.append(r)
            continue
        taken_b[c] = True
        pairs.append((ia[r], ib[c]))
    flips, missing = [], []
    for r in left_a:
        candidates = np.where(~same[r] & ~taken_b & (overlap[r] >= FLIP_IOU), overlap[r], -1.0)
        c = int(np.argmax(candidates))
        if candidates[c] < 0:
            missing.append(ia[r])
            continue
        taken_b[c] = True
        flips.append((ia[r], ib[c]))
    extra = ib[~taken_b].tolist()
    return pairs, flips, sorted(missing), extra


def _overlap(p, q):
    """IoU, except that identical boxes overlap fully even when clipping left them without area."""
    iou = iou_matrix(p, q)
    identical = np.all(p[:, None, :] == q[None, :, :], axis=2)
    return np.where(identical, 1.0, iou)


def _same_class(a, b, ia, ib):
    if a.classes is None or b.classes is None:
        return np.ones((len(ia), len(ib)), bool)
    return a.classes[ia][:, None] == b.classes[ib][None, :]


def _score_order(det, idx):
    if det.scores is None:
        return np.arange(len(idx))
    return np.argsort(-det.scores[idx], kind="mergesort")


def _below(det, idx, other):
    """How many of det's boxes at ``idx`` score lower than every box the other side kept."""
    if not len(idx) or det.scores is None or other.scores is None or not len(other):
        return 0
    return int(np.count_nonzero(det.scores[idx] < other.scores.min()))


def _unmatched(count, below, word, other):
    text = "%d %s" % (count, word)
    if below:
        text += " (%d below %s's lowest score)" % (below, other)
    return text



def _plain(value):
    return value.item() if isinstance(value, np.generic) else value


__all__ = ["DetectionComparison", "Detections", "MATCH_IOU", "Verdict", "compare_detections", "iou_matrix", "merge"]
