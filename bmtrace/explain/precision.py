"""precision: small float differences that FP32 (benign) or half-precision compute explains."""
from __future__ import annotations

import numpy as np

from ._arrays import residuals
from .hint import Hint

# sophon-demo FP32BModel_Precise_Alignment.md calls an FP32 bmodel aligned below 1e-3 max abs diff.
FP32_ABS = 1e-3
# FP32 kernels (different summation order, fused ops) stay within ~1e-4 of the tensor's magnitude.
FP32_REL = 2e-4
# Half precision keeps ~3 decimal digits; beyond this the difference is not a precision effect.
HALF_REL = 1e-2
HALF_COSINE = 0.9999


def diagnose_samples(a, b, float_a, float_b):
    """A precision hint for aligned float64 samples a, b, or None when the difference is not small.

    Args:
        a, b: aligned finite values of both sides.
        float_a, float_b: whether each side was recorded with a float dtype.
    """
    if not (float_a and float_b):
        return None
    max_abs, rms = residuals(a, b)
    if max_abs == 0:
        return None
    magnitude = float(max(np.max(np.abs(a)), np.max(np.abs(b))))
    rel = max_abs / magnitude if magnitude > 0 else float("inf")
    details = {"before_max_abs": max_abs, "before_rms": rms, "after_max_abs": max_abs,
               "magnitude": magnitude, "relative": rel}
    if rel <= FP32_REL or (max_abs <= FP32_ABS and rel <= 10 * FP32_REL):
        details["benign"] = True
        message = ("benign: max abs diff %.3g (%.2g of the values' magnitude) is FP32 runtime error "
                   "(kernel order, fused ops); loosen this stage's tolerance instead of changing code"
                   % (max_abs, rel))
        return Hint("precision", message, 0.8, max_abs, details)
    norm = float(np.sqrt(np.sum(a * a) * np.sum(b * b)))
    cosine = float(np.sum(a * b) / norm) if norm > 0 else 0.0
    details["cosine"] = cosine
    if rel <= HALF_REL and cosine >= HALF_COSINE:
        details["benign"] = False
        message = ("max abs diff %.3g (%.2g of the magnitude, cosine %.6f) is more than FP32 error but "
                   "typical of FP16/BF16 or quantised compute: check the bmodel's --quantize mode and "
                   "compare against an F32 bmodel" % (max_abs, rel, cosine))
        return Hint("precision", message, 0.5, max_abs, details)
    return None


def diagnose(ev):
    from ._samples import aligned_samples
    samples = aligned_samples(ev)
    if samples is None:
        return []
    hint = diagnose_samples(samples[0], samples[1], ev.xa.dtype.kind == "f", ev.xb.dtype.kind == "f")
    return [hint] if hint is not None else []
