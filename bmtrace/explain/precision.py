"""precision: FP32 runtime noise (benign), or evidence of reduced-precision compute on one side.

"More than FP32 error" alone is no evidence of anything (a 1 px box difference on an FP32 path is
not a precision problem). Reduced precision leaves a fingerprint: one side's values all lie on the
float16/bfloat16 grid, or on an int8 dequantisation grid (q * step, at most 256 levels), while the
other side's do not.
"""
from __future__ import annotations

import numpy as np

from ._arrays import integer_valued, residuals
from ._samples import aligned_samples
from .hint import Hint
from .rounding import _half_cast

# sophon-demo FP32BModel_Precise_Alignment.md calls an FP32 bmodel aligned below 1e-3 max abs diff.
FP32_ABS = 1e-3
# FP32 kernels (different summation order, fused ops) stay within ~1e-4 of the tensor's magnitude.
FP32_REL = 2e-4
# A side "lies on a grid" when this fraction of its values do; the other side must mostly not.
ON_GRID = 0.999
OFF_GRID = 0.5
INT8_LEVELS = 256


def _benign(xa, xb, max_abs, rms):
    magnitude = float(max(np.max(np.abs(xa)), np.max(np.abs(xb))))
    rel = max_abs / magnitude if magnitude > 0 else float("inf")
    if not (rel <= FP32_REL or (max_abs <= FP32_ABS and rel <= 10 * FP32_REL)):
        return None
    details = {"before_max_abs": max_abs, "before_rms": rms, "after_max_abs": max_abs,
               "magnitude": magnitude, "relative": rel, "benign": True}
    message = ("benign: max abs diff %.3g (%.2g of the values' magnitude) is FP32 runtime error "
               "(kernel order, fused ops); loosen this stage's tolerance instead of changing code"
               % (max_abs, rel))
    return Hint("precision", message, 0.8, max_abs, details)


def _float_grid(x, other):
    """The 16-bit float type whose grid x lies on and `other` does not, or None."""
    casts, other_casts = _half_cast(x), None
    for name in ("bfloat16", "float16"):  # coarser grid first: bfloat16 values are float16 too
        if np.mean(casts[name] == x) >= ON_GRID:
            other_casts = other_casts or _half_cast(other)  # (only then: most tensors lie on neither grid)
            if np.mean(other_casts[name] == other) < OFF_GRID:
                return name
    return None


def _int8_step(x, other):
    """The dequantisation step when x takes at most 256 levels q*step and `other` takes many more."""
    if np.unique(x[:4096]).size > INT8_LEVELS:
        return None  # a glance at the first elements already shows too many levels
    levels = np.unique(x)
    if levels.size < 3 or levels.size > INT8_LEVELS or np.unique(other).size < 4 * levels.size:
        return None
    gaps = np.diff(levels)
    step = float(np.min(gaps))
    if step <= 0:
        return None
    q = x / step
    return step if np.all(np.abs(q - np.round(q)) < 1e-3) else None


def diagnose(ev):
    """A precision hint: benign FP32 noise, or one side's values on a reduced-precision grid."""
    samples = aligned_samples(ev)
    if samples is None or ev.xa.dtype.kind != "f" or ev.xb.dtype.kind != "f":
        return []
    xa, xb, _ = samples
    max_abs, rms = residuals(xa, xb)
    if max_abs == 0:
        return []
    hint = _benign(xa, xb, max_abs, rms)
    if hint is not None:
        return [hint]
    for side, x, other in (("B", xb, xa), ("A", xa, xb)):
        if integer_valued(x):
            continue  # whole numbers lie on every grid: no evidence of reduced precision
        grid = _float_grid(x, other)
        kind = grid
        if grid is None:
            step = _int8_step(x, other)
            kind = None if step is None else "int8"
        if kind is None:
            continue
        details = {"before_max_abs": max_abs, "before_rms": rms, "after_max_abs": max_abs,
                   "benign": False, "kind": kind, "low_precision_side": side}
        if kind == "int8":
            details["step"] = step
            what = "at most %d levels of step %.4g (int8 dequantised)" % (INT8_LEVELS, step)
        else:
            what = "on the %s grid" % kind
        message = ("%s's values all lie %s and %s's do not (max abs diff %.3g): %s computes in reduced "
                   "precision; check the bmodel's --quantize mode and compare against an F32 bmodel"
                   % (side, what, "A" if side == "B" else "B", max_abs, side))
        return [Hint("precision", message, 0.7, max_abs, details)]
    return []
