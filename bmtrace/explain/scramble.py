"""layout (extended): B holds exactly A's elements in another order that no plain transpose gives.

Reshape/view where a transpose was meant, a reshape after the wrong transpose, a flip: every such
scramble keeps the element multiset. The structure search already names a plain reshape; this
diagnosis covers the rest, and names the recipe when a short one reproduces B exactly.
"""
from __future__ import annotations

import itertools

import numpy as np

from ._arrays import MIN_ELEMENTS
from .hint import Hint
from .structure import squeeze

MAX_NDIM = 4


def _same_multiset(a, b):
    # One cheap pass first: equal multisets have equal extremes and (nearly) equal sums.
    lo_a, hi_a, lo_b, hi_b = np.min(a), np.max(a), np.min(b), np.max(b)
    if lo_a != lo_b or hi_a != hi_b:
        return False
    sa, sb = float(np.sum(a, dtype=np.float64)), float(np.sum(b, dtype=np.float64))
    if abs(sa - sb) > 1e-6 * max(1.0, abs(sa), abs(sb)):
        return False
    if a.dtype.kind in "iu" and b.dtype.kind in "iu" and a.size and \
            min(a.min(), b.min()) >= 0 and max(a.max(), b.max()) < 1 << 16:
        return np.array_equal(np.bincount(a.ravel(), minlength=1 << 16),
                              np.bincount(b.ravel(), minlength=1 << 16))
    if not (np.all(np.isfinite(a)) and np.all(np.isfinite(b))):
        return False
    return np.array_equal(np.sort(a, axis=None), np.sort(b, axis=None))


def _recipes(sa, sb):
    """(words, details) of a short recipe turning squeezed A into squeezed B exactly, if any."""
    if sa.shape == sb.shape:
        for axis in range(sa.ndim):
            if np.array_equal(np.flip(sa, axis), sb):
                return "B is A flipped along axis %d" % axis, {"kind": "flip", "axis": axis}
    if sa.ndim > MAX_NDIM or sb.ndim > MAX_NDIM:
        return None
    for p in itertools.permutations(range(sb.ndim)):
        inverse = np.argsort(p)
        shape = [sb.shape[i] for i in inverse]
        if tuple(p) == tuple(range(sb.ndim)):
            continue
        if np.array_equal(sa.reshape(shape).transpose(p), sb):
            return ("B is A's buffer reshaped to %s, then transposed by %s" % (tuple(shape), tuple(p)),
                    {"kind": "reshape_transpose", "reshape": shape, "axes": list(p)})
    for q in itertools.permutations(range(sa.ndim)):
        if tuple(q) == tuple(range(sa.ndim)):
            continue
        t = sa.transpose(q)
        if np.array_equal(t.reshape(sb.shape), sb) and t.shape != sb.shape:
            return ("B is A transposed by %s, then reshaped to %s" % (tuple(q), sb.shape),
                    {"kind": "transpose_reshape", "axes": list(q), "reshape": list(sb.shape)})
    return None


def diagnose(ev):
    """A layout hint when B is a scramble of exactly A's elements that no transpose explains."""
    a, b = ev.xa, ev.xb
    if a is None or b is None or a.size != b.size or a.size < MIN_ELEMENTS:
        return []
    if a.dtype.kind != b.dtype.kind or (a.shape == b.shape and np.array_equal(a, b)):
        return []
    sa, _ = squeeze(a, ev.meta_a)
    sb, _ = squeeze(b, ev.meta_b)
    if np.all(sb == sb.ravel()[0]):
        return []  # constant data is every arrangement of itself
    if not _same_multiset(sa, sb):
        return []
    found = _recipes(sa, sb)
    if found is None and sa.shape == sb.shape:
        return []  # same shape, no recipe: a shift or crop moves pixels too (padding's question)
    if found is not None:
        words, details = found
    else:
        words, details = "B holds exactly A's elements in another order", {"kind": "scramble"}
    details.update(shape_a=list(a.shape), shape_b=list(b.shape), before_max_abs=None,
                   after_max_abs=0.0 if found else None)
    if details["kind"] == "flip":
        message = ("%s (same values, same counts): one side reverses an axis (cv2.flip or [::-1]) "
                   "that the other keeps" % words)
    else:
        message = ("%s (same values, same counts): an axis scramble, typically reshape/view where a "
                   "transpose (np.transpose / torch permute) was meant" % words)
    return [Hint("layout", message, 0.8 if found else 0.6, 0.0 if found else None, details)]
