"""Compare two classification results: top-1 agreement, top-5 overlap, rank, probability deltas.

Results carrying a score vector are compared as probabilities (softmax applied to logits, and the
JSON says so); results carrying only a top-1 (e.g. {"res": 751, "score": 0.9}) compare by class, and
by score when both name the same class.
"""
from __future__ import annotations

from collections import namedtuple

import numpy as np

from ..compare.results import json_number

from .values import larger

TOP_K = 5

Verdict = namedtuple("Verdict", "agrees reason")


def compare_classification(a, b):
    """ClassificationComparison of one sample's Classification ``a`` (reference) and ``b``."""
    result = ClassificationComparison()
    result.samples = 1
    result.a, result.b = a, b
    result.top1_agree = int(a.label is not None and a.label == b.label)
    if a.label is not None and a.label != b.label:
        result.changed.append((a.label, b.label))
    if a.probs is not None and b.probs is not None and len(a.probs) == len(b.probs):
        k = min(TOP_K, len(a.probs))
        overlap = len(set(a.top(k).tolist()) & set(b.top(k).tolist())) / float(k)
        result._overlaps.append(overlap)
        result.max_prob_diff = float(np.abs(a.probs - b.probs).max())
    elif a.label is not None and a.label == b.label and a.score is not None and b.score is not None:
        result.max_prob_diff = abs(a.score - b.score)
    if a.label is not None:
        result.rank_of_a_top1_max = b.rank_of(a.label)
    result.softmax_applied = bool(a.softmax_applied or b.softmax_applied)
    return result


def merge(comparisons):
    """One ClassificationComparison summing per-sample ones."""
    total = ClassificationComparison()
    for item in comparisons:
        total.samples += item.samples
        total.top1_agree += item.top1_agree
        total._overlaps += item._overlaps
        total.changed += item.changed
        total.max_prob_diff = larger(total.max_prob_diff, item.max_prob_diff)
        total.rank_of_a_top1_max = larger(total.rank_of_a_top1_max, item.rank_of_a_top1_max)
        total.softmax_applied = total.softmax_applied or item.softmax_applied
    return total


class ClassificationComparison:
    """Top-1 agreement and friends, per sample or summed over samples."""

    def __init__(self):
        self.samples = self.top1_agree = 0
        self.max_prob_diff = None
        self.rank_of_a_top1_max = None  # worst (largest) 1-based rank of A's top-1 among B's scores
        self.softmax_applied = False
        self.changed = []  # (A's top-1, B's top-1) where they differ
        self._overlaps = []
        self.a = self.b = None

    merge = staticmethod(merge)

    @property
    def top5_overlap_mean(self):
        return float(np.mean(self._overlaps)) if self._overlaps else None

    def to_json(self):
        doc = {
            "kind": "classification",
            "top1_agree": self.top1_agree,
            "samples": self.samples,
            "top5_overlap_mean": json_number(self.top5_overlap_mean),
            "rank_of_a_top1_max": self.rank_of_a_top1_max,
            "max_prob_diff": json_number(self.max_prob_diff),
            "softmax_applied": self.softmax_applied,
            "summary": self.summary(),
        }
        if self.a is not None:
            doc["top1"] = {"a": self.a.label, "b": self.b.label}
            doc["recognized"] = {"a": self.a.how, "b": self.b.how}
            if self.a.probs is not None and self.b.probs is not None:
                doc["top5"] = {side: [[int(i), json_number(res.probs[i])] for i in res.top(TOP_K)]
                               for side, res in (("a", self.a), ("b", self.b))}
        return doc

    def summary(self):
        """One line, e.g. "top-1 agrees on 3/5; top-5 overlap 0.84; max prob |d| 0.48 (softmax applied)"."""
        parts = ["top-1 agrees on %d/%d" % (self.top1_agree, self.samples)]
        if self.top5_overlap_mean is not None:
            parts.append("top-5 overlap %.2f" % self.top5_overlap_mean)
        if self.max_prob_diff is not None:
            parts.append("max prob |d| %.2g%s" % (self.max_prob_diff, " (softmax applied)" if self.softmax_applied else ""))
        return "; ".join(parts)

    def verdict(self, top1=1.0, prob=None):
        """Verdict(agrees, reason): top-1 agrees on at least ``top1`` of the samples (and prob |d| <= ``prob``)."""
        share = self.top1_agree / float(self.samples) if self.samples else 1.0
        problems = []
        if share < top1 - 1e-12:
            problems.append("top-1 agrees on %d/%d (< %g)" % (self.top1_agree, self.samples, top1))
        if prob is not None and self.max_prob_diff is not None and self.max_prob_diff > prob:
            problems.append("max prob |d| %.2g > %g" % (self.max_prob_diff, prob))
        if problems:
            return Verdict(False, "predictions differ: " + "; ".join(problems))
        return Verdict(True, "predictions agree: " + self.summary())



__all__ = ["ClassificationComparison", "compare_classification", "merge"]
