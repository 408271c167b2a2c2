"""dtype_rounding: truncation vs rounding, saturation vs wrap-around, float16/bfloat16 casts."""
from __future__ import annotations

import numpy as np

from ._arrays import MIN_ELEMENTS, integer_valued, residuals
from ._samples import aligned_samples
from .hint import Hint
from .values import NICE_SCALES

# Each mode: (name, words for messages, function float -> float with integral values).
ROUNDING_MODES = (
    ("rint", "rounds half to even (np.rint, cv2 saturate_cast)", np.rint),
    ("half_up", "rounds half up (floor(x + 0.5))", lambda x: np.floor(x + 0.5)),
    ("trunc", "truncates toward zero (astype / int())", np.trunc),
    ("floor", "rounds down (floor)", np.floor),
)
# An explanation must reproduce nearly every element exactly (a few boundary ties may differ).
EXACT_FRACTION = 0.999
# Integer pairs: truncation vs rounding moves 25-75% of elements by one level, all the same way.
LSB_DIFFERING = (0.25, 0.75)
ONE_SIDED = 0.999


def _int_range(dtype, values):
    """Value range of the integer type the values were cast to (uint8 when only the values say so)."""
    if dtype is not None and np.dtype(dtype).kind in "iu":
        info = np.iinfo(dtype)
        return int(info.min), int(info.max)
    lo, hi = float(np.min(values)), float(np.max(values))
    if lo >= 0 and hi <= 255:
        return 0, 255
    if lo >= -128 and hi <= 127:
        return -128, 127
    return None


def match_rounding(pred, target, target_dtype=None):
    """Which float -> integer conversion of pred reproduces target best.

    Returns a dict (mode, words, overflow, fraction_equal, max_abs) or None when no mode is exact
    for at least EXACT_FRACTION of the elements.
    """
    span = _int_range(target_dtype, target)
    best = None
    for name, words, fn in ROUNDING_MODES:
        rounded = fn(pred)
        variants = [("none", rounded)]
        if span is not None:
            lo, hi = span
            width = hi - lo + 1
            variants = [("saturate", np.clip(rounded, lo, hi)),
                        ("wrap", np.mod(rounded - lo, width) + lo)]
        for overflow, values in variants:
            equal = float(np.mean(values == target))
            max_abs = float(np.max(np.abs(values - target)))
            score = (equal, -max_abs)
            if best is None or score > best[0]:
                best = (score, {"mode": name, "words": words, "overflow": overflow,
                                "fraction_equal": equal, "max_abs": max_abs, "values": values})
    if best is None or best[1]["fraction_equal"] < EXACT_FRACTION:
        return None
    return best[1]


def _half_cast(x):
    """Round-trips of x through float16 and bfloat16 (round to nearest even), as float64."""
    x32 = np.ascontiguousarray(x, dtype=np.float32)
    bits = x32.view(np.uint32)
    # bfloat16 keeps the top 16 bits; add the rounding bias for round-to-nearest-even. In uint32 the
    # sum wraps past the top (only NaN bit patterns get there), as the low 32 bits of a wider sum
    # would: the same bits, at a twentieth of the cost of working in uint64.
    rounded = (bits + np.uint32(0x7FFF) + ((bits >> np.uint32(16)) & np.uint32(1))) & np.uint32(0xFFFF0000)
    bf16 = rounded.view(np.float32)
    with np.errstate(over="ignore"):
        f16 = x32.astype(np.float16)
    return {"float16": f16.astype(np.float64), "bfloat16": bf16.astype(np.float64)}


def _lsb_hint(a, b, before):
    d = b - a
    nonzero = d != 0
    frac_diff = float(np.mean(nonzero))
    lower = float(np.mean(d[nonzero] < 0))
    # Truncating continuous values where the other side rounds lowers exactly the elements whose
    # fraction is >= 0.5: about half of them, all in one direction. A fixed-point bias (cv2
    # INTER_LINEAR vs torchvision) is also one-sided but touches far fewer elements.
    if not LSB_DIFFERING[0] <= frac_diff <= LSB_DIFFERING[1]:
        return None
    if lower >= ONE_SIDED:
        low, high = "B", "A"
    elif lower <= 1 - ONE_SIDED:
        low, high = "A", "B"
    else:
        return None  # mixed +-1: an interpolation or implementation difference, not a rounding mode
    message = ("%s is 1 lower than %s at %.1f%% of elements and never higher: %s truncates where %s "
               "rounds; round before casting to an integer type (np.rint / cv2 saturate_cast)"
               % (low, high, 100 * frac_diff, low, high))
    details = dict(before, kind="truncation", lower_side=low, fraction_differing=frac_diff)
    return Hint("dtype_rounding", message, 0.6, None, details)


def _saturation_hint(a, b, dtype, before):
    d = b - a
    big = np.abs(d) > 1
    span = _int_range(dtype, np.concatenate([a[big], b[big]]))
    if span is None:
        return None
    lo, hi = span
    for side, sat, other in (("A", a, "B"), ("B", b, "A")):
        if np.all((sat[big] == lo) | (sat[big] == hi)):
            message = ("%s and %s differ only where %s sits at the limit %d/%d: %s saturates while %s "
                       "wraps around (numpy astype); clip to [%d, %d] before casting"
                       % ("A", "B", side, lo, hi, side, other, lo, hi))
            details = dict(before, kind="saturation", saturating_side=side,
                           fraction_differing=float(np.mean(d != 0)))
            return Hint("dtype_rounding", message, 0.6, None, details)
    return None


def diagnose_samples(a, b, dtype_a, dtype_b):
    """A dtype_rounding hint for same-shape float64 samples a, b of the two sides, or None.

    Args:
        a, b: aligned finite values (float64) of A and B.
        dtype_a, dtype_b: the recorded dtypes.
    """
    if a.size < MIN_ELEMENTS:
        return None
    before_max, before_rms = residuals(a, b)
    if before_max == 0:
        return None
    before = {"before_max_abs": before_max, "before_rms": before_rms}
    int_a, int_b = integer_valued(a), integer_valued(b)
    if int_a != int_b:
        # One side kept floats, the other cast them: which conversion reproduces the cast side?
        floats, ints, int_dtype = (a, b, dtype_b) if int_b else (b, a, dtype_a)
        cast_side, float_side = ("B", "A") if int_b else ("A", "B")
        match = match_rounding(floats, ints, int_dtype)
        if match is None:
            return None
        after_max, after_rms = residuals(match.pop("values"), ints)
        if after_rms > 0.5 * before_rms:
            return None
        overflow = match["overflow"]
        message = "%s is %s cast to %s: the cast %s" % (
            cast_side, float_side, np.dtype(int_dtype).name if int_dtype is not None and
            np.dtype(int_dtype).kind in "iu" else "integers", match["words"])
        span = _int_range(int_dtype, ints)
        if overflow == "wrap" and span and np.any((floats < span[0]) | (floats > span[1] + 1)):
            message += " and wraps out-of-range values around (clip first, as cv2 saturates)"
        message += "; make both sides convert the same way (np.rint + np.clip, or keep floats)"
        details = dict(before, kind="cast", cast_side=cast_side, after_max_abs=after_max,
                       after_rms=after_rms, **match)
        return Hint("dtype_rounding", message, 0.9 * match["fraction_equal"], after_max, details)
    if int_a and int_b:
        if before_max <= 1:
            return _lsb_hint(a, b, before)
        return _saturation_hint(a, b, dtype_a if np.dtype(dtype_a).kind in "iu" else dtype_b, before)
    # Both floats: does one side equal the other rounded through a 16-bit float?
    for half_side, full, half in (("B", a, b), ("A", b, a)):
        for name, cast in _half_cast(full).items():
            equal = float(np.mean(cast == half))
            if equal >= EXACT_FRACTION:
                after_max, after_rms = residuals(cast, half)
                message = ("%s equals %s rounded to %s (max abs diff %.3g): %s went through a %s "
                           "tensor or a %s model; keep it float32 (compile the bmodel with --quantize F32) "
                           "to compare exactly" % (half_side, "A" if half_side == "B" else "B", name,
                                                   before_max, half_side, name, name))
                details = dict(before, kind=name, half_side=half_side, fraction_equal=equal,
                               after_max_abs=after_max, after_rms=after_rms)
                return Hint("dtype_rounding", message, 0.9, after_max, details)
    return None


def match_cast(fit, pred, xa, target, dtype):
    """The float -> integer conversion that turns the fitted prediction into B, if any.

    Returns (rounding dict or None, prediction used, snapped k or None). Truncation lowers B by
    0.5 on average, which drags a least-squares k away from 255; so for scale fits the familiar
    constants near k are tried too, each also evaluated in float32 (how the port computed it).
    """
    options = [(pred, None)]
    if fit.kind == "scale":
        for nice in NICE_SCALES:
            if nice != fit.params["k"] and abs(fit.params["k"] / nice - 1) < 0.02:
                options.append((nice * xa, nice))
    best = (None, pred, None)
    for values, k in options:
        for variant in (values, values.astype(np.float32).astype(np.float64)):
            match = match_rounding(variant, target, dtype)
            if match is not None and (best[0] is None or
                                      match["fraction_equal"] > best[0]["fraction_equal"]):
                best = (match, variant, k)
            if best[0] is not None and best[0]["fraction_equal"] == 1.0:
                return best
    return best


def diagnose(ev):
    """A dtype_rounding hint for a same-shape pair (truncation, saturation, 16-bit float cast)."""
    samples = aligned_samples(ev)
    if samples is None:
        return []
    hint = diagnose_samples(samples[0], samples[1], ev.xa.dtype, ev.xb.dtype)
    return [hint] if hint is not None else []
