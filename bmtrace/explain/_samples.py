"""Aligned strided samples of a same-shape pair, computed once per Evidence."""
from __future__ import annotations

import numpy as np

from ._arrays import strided_selection
from .structure import squeeze

# Same-shape diagnoses look at no more elements than this (strided, so the whole image is seen).
SAMPLE_CAP = 1 << 18


def aligned_samples(ev):
    """(xa, xb, sampled): finite float64 values at the same positions of a and b, or None.

    None when the squeezed shapes differ or fewer than half the positions are finite on both sides.
    """
    if "samples" not in ev.cache:
        ev.cache["samples"] = None if ev.xa is None or ev.xb is None else \
            _samples(ev.xa, ev.xb, ev.meta_a, ev.meta_b)
    return ev.cache["samples"]


def _samples(a, b, meta_a, meta_b):
    sa, _ = squeeze(a, meta_a)
    sb, _ = squeeze(b, meta_b)
    if sa.shape != sb.shape:
        return None
    selection, sampled = strided_selection(sb.shape, SAMPLE_CAP)
    xa = np.asarray(sa[selection], dtype=np.float64).ravel()
    xb = np.asarray(sb[selection], dtype=np.float64).ravel()
    finite = np.isfinite(xa) & np.isfinite(xb)
    if finite.mean() < 0.5:
        return None
    return xa[finite], xb[finite], sampled
