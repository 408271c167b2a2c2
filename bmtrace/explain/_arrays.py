"""Array helpers shared by the diagnoses: numeric checks, layouts, subsampling, residuals."""
from __future__ import annotations

import numpy as np

from ..compare.representation import strided_selection  # noqa: F401  (shared with the diagnoses)

# Channel counts that make an axis look like a colour axis (gray, BGR/RGB, BGRA/RGBA).
CHANNEL_SIZES = (1, 3, 4)
# Fits and rounding statistics on fewer elements than this would explain anything at all.
MIN_ELEMENTS = 16


def as_numeric(x):
    """Return x as a real numeric ndarray, or None when it cannot be diagnosed (str, object, complex)."""
    try:
        arr = np.asarray(x)
    except Exception:  # exotic objects: nothing to diagnose, never crash a diff
        return None
    if arr.dtype == np.bool_:
        return arr.astype(np.uint8)
    if arr.dtype.kind not in "iuf" or arr.size == 0:
        return None
    return arr


def is_integer_dtype(arr):
    """True for integer dtypes."""
    return arr.dtype.kind in "iu"


def integer_valued(x):
    """True when every finite value of float array x is a whole number (or x is an integer dtype)."""
    if x.dtype.kind in "iu":
        return True
    finite = x[np.isfinite(x)]
    return bool(finite.size) and bool(np.all(finite == np.round(finite)))


def layout_letters(shape, meta=None):
    """Name the layout of an image-like shape ("HWC", "CHW", "NCHW", "NHWC", "HW") or return None.

    A meta "layout" of the right length wins over guessing from the shape.
    """
    if meta:
        given = meta.get("layout")
        if isinstance(given, str) and len(given) == len(shape) and len(set(given)) == len(given):
            return given.upper()
    nd = len(shape)
    if nd == 2:
        return "HW"
    if nd == 3:
        first, last = shape[0] in CHANNEL_SIZES, shape[2] in CHANNEL_SIZES
        if first and not last:
            return "CHW"
        if last and not first:
            return "HWC"
        if first and last and shape[1] not in CHANNEL_SIZES:
            return "HWC" if shape[0] > shape[2] else None
        return None
    if nd == 4:
        second, last = shape[1] in CHANNEL_SIZES, shape[3] in CHANNEL_SIZES
        if second and not last:
            return "NCHW"
        if last and not second:
            return "NHWC"
        return None
    return None


def channel_axis(shape, meta=None):
    """Index of the colour axis of an image-like shape, or None."""
    letters = layout_letters(shape, meta)
    if letters and "C" in letters:
        return letters.index("C")
    return None


def spatial_axes(shape, meta=None):
    """(H axis, W axis) of an image-like shape, or None."""
    letters = layout_letters(shape, meta)
    if letters and "H" in letters and "W" in letters:
        return letters.index("H"), letters.index("W")
    return None


def residuals(pred, target):
    """(max abs, rms) of pred - target over finite positions; (inf, inf) when nothing is finite."""
    d = np.asarray(target, dtype=np.float64) - np.asarray(pred, dtype=np.float64)
    d = d[np.isfinite(d)]
    if d.size == 0:
        return float("inf"), float("inf")
    return float(np.max(np.abs(d))), float(np.sqrt(np.mean(d * d)))


def value_range(x):
    """max - min over finite values (0.0 when none)."""
    f = x[np.isfinite(x)] if x.dtype.kind == "f" else x
    if f.size == 0:
        return 0.0
    return float(np.max(f)) - float(np.min(f))


def looks_like_raw_pixels(x):
    """True when x holds 8-bit pixel values: integer-valued, within 0..255, spanning more than 0..1."""
    if x.size == 0:
        return False
    lo, hi = float(np.min(x)), float(np.max(x))
    return lo >= 0 and hi <= 255 and hi > 1.5 and integer_valued(x)


def looks_like_unit_pixels(x):
    """True when x looks like pixels scaled to [0, 1] (ToTensor output)."""
    if x.size == 0 or x.dtype.kind != "f":
        return False
    lo, hi = float(np.min(x)), float(np.max(x))
    return lo >= 0 and hi <= 1.0 and hi > 0.05 and not integer_valued(x)


def round_sig(value, digits=4):
    """Round a float to a few significant digits for messages."""
    value = float(value)
    if value == 0 or not np.isfinite(value):
        return value
    return float("%.*g" % (digits, value))
