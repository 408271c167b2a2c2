"""What two stats-mode sketches (``bmtrace.codecs.sketch``) prove and suggest about a tensor pair.

Both sketches hold the values at the same shape-determined positions, so every sampled difference
is a real difference: the largest one is a lower bound on the max abs diff, and one above the
tolerance proves the pair diverged at that position. Mean abs diff and cosine over the sample are
estimates of the whole tensor's. Per-channel statistics over a common pixel grid are lower bounds
too, and a permutation of them names a channel swap.
"""
from __future__ import annotations

import itertools
import math
import threading

import numpy as np

from ..codecs.sketch import as_whole, decode_values, element_count, positions
from .metrics import cosine_from_sums

_STATS = ("min", "max", "mean", "std")
# The reductions behind ndarray.sum/min/max/all, called directly: same loops, none of the wrappers' cost.
_sum, _min, _max, _all = np.add.reduce, np.minimum.reduce, np.maximum.reduce, np.logical_and.reduce


class SketchEvidence:
    """Figures from two sketches of one pair (``None`` when a figure could not be computed)."""

    __slots__ = ("count", "size", "complete", "bound", "min_atol", "index", "value_a", "value_b", "mean_abs",
                 "cosine", "nonfinite_mismatch", "offset", "scale", "channel_bound", "channel_order", "arrays")

    def __init__(self):
        self.count = 0                 # sampled positions compared
        self.size = 0                  # elements in the tensor
        self.complete = False          # the sample is the whole tensor
        self.bound = 0.0               # max sampled |a - b|: a lower bound on the max abs diff
        self.min_atol = 0.0            # max sampled |a - b| - rtol * |a|
        self.index = None              # flat position of ``bound``
        self.value_a = self.value_b = None
        self.mean_abs = None           # estimate over the sample
        self.cosine = None             # estimate over the sample
        self.nonfinite_mismatch = 0    # sampled positions with NaN/Inf on one side only
        self.offset = None             # B - A when every sampled position differs by about that
        self.scale = None              # B / A when every sampled B is about that multiple of A
        self.channel_bound = None      # max |per-channel stat A - B|: also a lower bound
        self.channel_order = None      # permutation p with B's channel c ~ A's channel p[c]
        self.arrays = None             # (a, b) as full arrays when the sample is complete


def sketch_evidence(ta, tb, shape, rtol=0.0):
    """SketchEvidence for records ``ta``/``tb`` of common ``shape``, or None without two usable sketches.
    Found in the table ``computed_ahead`` installed when a diff computed it with others."""
    ahead = getattr(_local, "ahead", None)
    if ahead:
        found = ahead.get((id(ta), id(tb)))
        # (the table holds ta and tb, so no other object has taken their ids)
        if found is not None and found[2] == shape and found[3] == rtol:
            return found[4]
    return evidence_of_pairs([(ta, tb, shape, rtol)])[0]


class computed_ahead:
    """``with computed_ahead(table):`` sketch_evidence on this thread looks pairs up in ``table``
    (``{(id(ta), id(tb)): (ta, tb, shape, rtol, evidence)}``, from ``evidence_of_pairs``) first."""

    def __init__(self, table):
        self.table = table

    def __enter__(self):
        _local.ahead = self.table
        return self

    def __exit__(self, *exc):
        _local.ahead = None


_local = threading.local()


def evidence_of_pairs(items):
    """``[sketch_evidence(ta, tb, shape, rtol)]`` for ``items`` of ``(ta, tb, shape, rtol)``.

    The figures of pairs sampled alike (same dtypes, positions and rtol) are computed together, a few
    numpy calls for all of them rather than some twenty per pair: a stats-mode diff judges every pair
    from its sketches. Each row's figures are those of the pair alone, bit for bit (reductions run
    along each row, as over one pair's values)."""
    out = [None] * len(items)
    groups = {}
    for i, (ta, tb, shape, rtol) in enumerate(items):
        prepared = _prepared(ta, tb, shape)
        if prepared is None:
            continue
        ev, a, b, where, doc_a, doc_b = prepared
        out[i] = ev
        if not ev.complete:
            key = (a.dtype, b.dtype, a.size, None if where is None else id(where), rtol)
            groups.setdefault(key, []).append((ev, a, b, where, doc_a, doc_b))
    for (dtype_a, dtype_b, _, _, rtol), members in groups.items():
        floats = dtype_a.kind == "f" or dtype_b.kind == "f"  # integers are never NaN or Inf
        values_a = np.stack([m[1] for m in members]).astype(np.float64)
        values_b = np.stack([m[2] for m in members]).astype(np.float64)
        with np.errstate(over="ignore", invalid="ignore"):  # huge values: sums overflow, no cosine (a figure)
            _value_figures([m[0] for m in members], values_a, values_b, members[0][3], rtol, floats)
        for ev, _, _, _, doc_a, doc_b in members:
            _channel_figures(ev, doc_a, doc_b)
    return out


def _prepared(ta, tb, shape):
    """(evidence so far, A's and B's values at common positions, those positions (None: all, in
    order), the two sketches), or None without two usable sketches; a complete evidence when the
    sketches hold the whole tensor."""
    doc_a, doc_b = getattr(ta, "sketch", None), getattr(tb, "sketch", None)
    if not doc_a or not doc_b or shape is None:
        return None
    shape = tuple(map(int, shape))
    va, vb = decode_values(doc_a, shape), decode_values(doc_b, shape)
    if va is None or vb is None:
        return None
    size = element_count(shape)
    ev = SketchEvidence()
    ev.size = size
    a, b, where = _common_sample(va, vb, shape, size)
    ev.count = int(a.size)
    whole = (as_whole(va, shape, ta.dtype), as_whole(vb, shape, tb.dtype)) if ev.count == size and where is None \
        else (None, None)
    ev.complete = whole[0] is not None and whole[1] is not None
    if ev.complete:
        # The caller compares the whole arrays (``compare_arrays``) in their recorded dtypes (a bool mask
        # is no uint8 image): figures of a sample would go unused.
        ev.arrays = whole
    return ev, a, b, where, doc_a, doc_b


def _common_sample(va, vb, shape, size):
    """Values of A and B at the same positions, and those positions (None: all, in order)."""
    ka, kb = va.size, vb.size
    if ka == size and kb == size:
        return va, vb, None
    if ka == size:                       # A kept whole: look up B's positions in it
        where = positions(shape, kb)
        return va[where], vb, where
    if kb == size:
        where = positions(shape, ka)
        return va, vb[where], where
    k = min(ka, kb)                      # a shorter sketch is a prefix of a longer one
    return va[:k], vb[:k], positions(shape, k)


def _value_figures(evs, a, b, where, rtol, floats=True):
    """Fill ``evs`` from rows ``a``/``b`` (float64, one row per evidence) sampled at ``where``."""
    if floats:
        finite = np.isfinite(a) & np.isfinite(b)
        rows = _all(finite, axis=1)
        if not _all(rows):
            for row in np.flatnonzero(~rows).tolist():
                _nonfinite_row(evs[row], a[row], b[row], finite[row], where, rtol)
            keep = np.flatnonzero(rows)
            evs, a, b = [evs[row] for row in keep.tolist()], a[keep], b[keep]
    if a.shape[1] and evs:
        _finite_figures(evs, a, b, where, rtol)


def _nonfinite_row(ev, a, b, finite, where, rtol):
    """One pair with NaN/Inf among its sampled values: where they do not match, then the finite rest."""
    bad = ~finite
    same = (a[bad] == b[bad]) | (np.isnan(a[bad]) & np.isnan(b[bad]))
    ev.nonfinite_mismatch = int(same.size - np.count_nonzero(same))
    if ev.nonfinite_mismatch:
        first = int(np.flatnonzero(bad)[np.flatnonzero(~same)[0]])
        ev.index = int(where[first]) if where is not None else first
        ev.value_a, ev.value_b = float(a[first]), float(b[first])
    keep = np.flatnonzero(finite)
    if keep.size:
        _finite_figures([ev], a[keep][None], b[keep][None], where[keep] if where is not None else keep, rtol)


def _finite_figures(evs, a, b, where, rtol):
    """Bounds and estimates from finite rows ``a``/``b`` (n x k, k > 0)."""
    n, k = a.shape
    signed = b - a
    d = np.abs(signed)
    tops = d.argmax(axis=1)
    picked = (np.arange(n), tops)
    bounds = d[picked].tolist()
    min_atols = np.fmax(0.0, _max(d - rtol * np.abs(a), axis=1)).tolist() if rtol else bounds  # NaN: 0
    mean_abs = (_sum(d, axis=1) / k).tolist()
    xx, yy, xy = _sum(a * a, axis=1).tolist(), _sum(b * b, axis=1).tolist(), _sum(a * b, axis=1).tolist()
    values_a, values_b = a[picked].tolist(), b[picked].tolist()
    indexes = (where[tops] if where is not None else tops).tolist()
    lows, highs = _min(signed, axis=1).tolist(), _max(signed, axis=1).tolist()
    for row, ev in enumerate(evs):
        ev.bound = bound = bounds[row]
        ev.min_atol = min_atols[row]
        if ev.index is None:
            ev.index, ev.value_a, ev.value_b = indexes[row], values_a[row], values_b[row]
        ev.mean_abs = mean_abs[row]
        ev.cosine = cosine_from_sums(xx[row], yy[row], xy[row])
        if bound > 0 and k >= 8:
            low, high = lows[row], highs[row]
            spread = high - low
            # |median| <= max(|low|, |high|) (short of the overflow of a mean of two huge values): a spread
            # above the limit at that bound fails at the median too, and the (sorting) median is skipped.
            largest = max(abs(low), abs(high))
            if largest > 8e307 or spread <= 1e-3 * largest + 1e-12:
                centre = float(np.median(signed[row]))
                if abs(centre) > 0 and spread <= 1e-3 * abs(centre) + 1e-12:
                    ev.offset = centre
            if ev.offset is None and xx[row] > 0.0:
                _scale_figure(ev, a[row], b[row], xy[row] / xx[row])


def _scale_figure(ev, a, b, ratio):
    """``ev.scale = ratio`` when every sampled B is ``ratio`` times A, to 1e-3 of the largest such product
    (a normalization one side forgot or applied twice: /255, /std); not for ratios near 1, where the
    figures say enough."""
    if not math.isfinite(ratio) or ratio == 0.0 or abs(ratio - 1.0) <= 1e-2:
        return
    scaled = a * ratio
    largest = float(_max(np.abs(scaled)))
    if float(_max(np.abs(b - scaled))) <= 1e-3 * largest + 1e-12:
        ev.scale = ratio


def _channel_table(doc):
    """The per-channel statistics as one (min, max, mean, std) tuple of finite floats per channel (1-4
    channels), or None.

    Plain lists: a table is at most 4 x 4, where every numpy call costs more than the arithmetic."""
    channels = doc.get("channels") if isinstance(doc, dict) else None
    if not isinstance(channels, dict):
        return None
    try:
        mins, maxs, means, stds = [list(map(float, channels[s])) for s in _STATS]
    except (KeyError, TypeError, ValueError):
        return None
    width = len(mins)
    if not (1 <= width <= 4 and len(maxs) == width and len(means) == width and len(stds) == width) or not all(
            map(math.isfinite, mins + maxs + means + stds)):
        return None
    return list(zip(mins, maxs, means, stds))


def _cost(stats_a, stats_b):
    """The largest |A's statistic - B's| of two channels' (min, max, mean, std)."""
    return max(abs(stats_a[0] - stats_b[0]), abs(stats_a[1] - stats_b[1]), abs(stats_a[2] - stats_b[2]),
               abs(stats_a[3] - stats_b[3]))


def _channel_figures(ev, doc_a, doc_b):
    ta, tb = _channel_table(doc_a), _channel_table(doc_b)
    if ta is None or tb is None or len(ta) != len(tb) or doc_a.get("channel_step") != doc_b.get("channel_step"):
        return
    channels = range(len(ta))
    # cost(i, j) = _cost(ta[i], tb[j]); a channel order's error (max |A[:, order] - B| over the table)
    # is the largest cost(order[j], j).
    unpermuted = [_cost(ta[j], tb[j]) for j in channels]
    ev.channel_bound = max(unpermuted)
    if len(ta) < 2 or ev.channel_bound == 0.0:
        return
    scale = max(map(abs, itertools.chain.from_iterable(ta))) or 1.0
    # A swap: permuted, the statistics agree to a small share of the data's scale and far better
    # than unpermuted.
    limit = min(1e-3 * scale + 1e-9, 0.1 * ev.channel_bound)
    # Every order's error is at least its cost at B's channel worst matched unpermuted (above the
    # limit itself): when no other channel of A comes within the limit there (no swap, the common
    # case), no order can, and the permutations are not tried.
    worst = unpermuted.index(ev.channel_bound)
    if all(_cost(ta[i], tb[worst]) > limit for i in channels if i != worst):
        return
    cost = [[_cost(stats_a, stats_b) for stats_b in tb] for stats_a in ta]
    identity = tuple(channels)
    best, best_err = None, ev.channel_bound
    for order in itertools.permutations(identity):
        if order == identity:
            continue
        err = max(cost[i][j] for j, i in enumerate(order))
        if err < best_err:
            best, best_err = order, err
    if best is not None and best_err <= limit:
        ev.channel_order = best


def describe_order(order):
    """"B's channels are A's in the order (2, 1, 0)" plus the common name of that order."""
    text = "B's per-channel statistics are A's in channel order %s" % (tuple(order),)
    if tuple(order) == (2, 1, 0):
        text += " (BGR vs RGB)"
    return text
