"""explain_tensor_pair: run the diagnoses on one diverged pair within a time budget."""
from __future__ import annotations

import logging
import time

import numpy as np

from . import chain, nms, padding, precision, resize, rounding
from ._arrays import as_numeric, strided_selection
from .structure import squeeze

log = logging.getLogger("bmtrace.explain")

# Same-shape diagnoses look at no more elements than this (strided, so the whole image is seen).
SAMPLE_CAP = 1 << 18


def _aligned_samples(a, b, meta_a, meta_b):
    """Finite float64 samples at the same positions of same-shape (after squeezing) a and b."""
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


def _detections(a, b):
    return (a.ndim == 2 and b.ndim == 2 and a.shape[1] == b.shape[1] and a.shape[1] in (4, 5, 6, 7)
            and a.shape[0] != b.shape[0])


def explain_tensor_pair(a, b, *, stage, tensor, inputs_a=None, inputs_b=None, meta_a=None,
                        meta_b=None, budget_s=0.5):
    """Hints that explain why tensor `tensor` of stage `stage` differs between A and B, best first.

    Args:
        a, b: the diverged pair (A = original program, B = port).
        stage, tensor: names, used in log messages.
        inputs_a, inputs_b: name -> array of the same stage's recorded inputs (the resize diagnosis
            needs the input image), or None.
        meta_a, meta_b: per-tensor meta dicts ({"color": "BGR", "layout": "HWC"}), or None.
        budget_s: time budget; diagnoses still to run when it is spent are skipped.
    Returns:
        list of Hint; empty when no diagnosis explains the difference.

    Example:
        >>> hints = explain_tensor_pair(rgb, rgb[..., ::-1], stage="decode", tensor="out")
        >>> hints[0].cause
        'channel_order'
    """
    start = time.perf_counter()
    deadline = start + max(0.0, float(budget_s))
    a, b = as_numeric(a), as_numeric(b)
    if a is None or b is None:
        return []
    skipped = []

    def run(name, fn, *args, default=None):
        # A diagnosis is advice: its own failure must never break the diff that asked for it.
        try:
            return fn(*args)
        except Exception:
            log.warning("explain %s/%s: the %s diagnosis failed", stage, tensor, name, exc_info=True)
            return default

    def out_of_time(name):
        if time.perf_counter() > deadline:
            skipped.append(name)
            return True
        return False

    if _detections(a, b):
        # Detection lists of different lengths: only the NMS diagnosis can say something.
        return run("nms", nms.diagnose, {"out": a}, {"out": b}, default=[])

    hints = []
    structural, explained = run("layout/channel_order/value", chain.diagnose, a, b, meta_a, meta_b,
                                deadline, inputs_a, inputs_b, default=([], False))
    hints.extend(h for h in structural if h.cause in ("channel_order", "layout"))
    value_hints = [h for h in structural if h.cause not in ("channel_order", "layout")]

    if inputs_a is not None and inputs_b is not None and not out_of_time("resize_method"):
        hints.extend(run("resize_method", resize.diagnose, a, b, inputs_a, inputs_b, meta_a, meta_b,
                         deadline, default=[]))
    if not explained and not out_of_time("padding"):
        hints.extend(run("padding", padding.diagnose, a, b, meta_a, meta_b, deadline, default=[]))
    hints.extend(value_hints)

    if not explained and not any(h.cause in ("resize_method", "padding") for h in hints):
        samples = None if out_of_time("dtype_rounding") else _aligned_samples(a, b, meta_a, meta_b)
        if samples is not None:
            xa, xb, _ = samples
            hint = run("dtype_rounding", rounding.diagnose, xa, xb, a.dtype, b.dtype)
            if hint is None and not out_of_time("precision"):
                hint = run("precision", precision.diagnose, xa, xb, a.dtype.kind == "f",
                           b.dtype.kind == "f")
            if hint is not None:
                hints.append(hint)
    if skipped:
        log.info("explain %s/%s: budget %.2fs spent, skipped %s", stage, tensor, budget_s,
                 ", ".join(skipped))
    return hints
