"""The metric ladder for one tensor pair: EQUAL -> CLOSE -> SIMILAR -> DIVERGED.

``compare_arrays`` works on numpy arrays; ``compare_records`` works on recorded tensors (the
reader's ``Tensor`` objects) and picks the cheapest sound basis: equal content hashes, loaded
payloads, scalar values, or, for stats-mode records, the recorded statistics.
"""
from __future__ import annotations

import math

import numpy as np

from .metrics import CHUNK_ELEMENTS, array_metrics, image_peak, psnr
from .results import Status, TensorComparison
from .tolerance import ToleranceRules

_NUMERIC_KINDS = "biuf"
_IMAGE_LAYOUTS = ("HWC", "CHW", "NCHW", "NHWC", "HW")
_DEFAULT_RULES = ToleranceRules()


def is_float_dtype(dtype):
    """True for floating and complex dtypes (float tolerances apply)."""
    return np.dtype(dtype).kind in "fc"


def pair_is_float(dtype_a, dtype_b):
    """Float tolerances apply when either side is floating point (e.g. uint8 vs float32)."""
    try:
        return _pair_is_float[(dtype_a, dtype_b)]
    except (KeyError, TypeError):  # not seen yet, or an unhashable dtype description
        pass
    try:
        answer = is_float_dtype(dtype_a) or is_float_dtype(dtype_b)
    except TypeError:
        answer = True
    try:
        if len(_pair_is_float) >= 1024:  # dtype names come from traces: keep the memo bounded
            _pair_is_float.clear()
        _pair_is_float[(dtype_a, dtype_b)] = answer
    except TypeError:
        pass
    return answer


_pair_is_float = {}  # (dtype A, dtype B) -> pair_is_float: a diff meets the same few pairs per stage


def dtype_name(dtype):
    """``str(dtype)``, which numpy builds anew at every call."""
    if dtype.isbuiltin != 1:  # only the plain dtypes: ">f4" equals no plain one but one with metadata does
        return str(dtype)
    name = _dtype_names.get(dtype)
    if name is None:
        name = _dtype_names[dtype] = str(dtype)
    return name


_dtype_names = {}


def looks_like_image(array, meta=None):
    """Image-like: 8-bit with 2+ dims, or metadata naming an image layout/mode/format."""
    meta = meta or {}
    if meta.get("mode") or meta.get("format") or str(meta.get("layout", "")).upper() in _IMAGE_LAYOUTS:
        return True
    return array.dtype == np.uint8 and array.ndim >= 2


def _squeeze_batch(a, b, notes):
    """Drop a leading batch dimension of 1 on one side when that makes the shapes equal."""
    if a.shape == b.shape:
        return a, b
    if a.ndim == b.ndim + 1 and a.shape[0] == 1 and a.shape[1:] == b.shape:
        notes.append("squeezed the leading batch dimension of 1 in A %s" % (tuple(a.shape),))
        return a[0], b
    if b.ndim == a.ndim + 1 and b.shape[0] == 1 and b.shape[1:] == a.shape:
        notes.append("squeezed the leading batch dimension of 1 in B %s" % (tuple(b.shape),))
        return a, b[0]
    return a, b


def compare_arrays(a, b, tol=None, *, name="out", role=None, stage=None, rules=None,
                   image_like=None, meta_a=None, meta_b=None, chunk=CHUNK_ELEMENTS, measured=None):
    """Compare two arrays and place the pair on the ladder.

    Args:
        a: reference array (run A).
        b: array under test (run B).
        tol: a resolved ``Tolerance``; default: ``rules`` resolved for ``stage``/``name``.
        name: tensor name, for the result and for per-tensor rules.
        role: ``"input"`` or ``"output"`` (recorded on the result).
        stage: stage name, for per-stage rules.
        rules: ``ToleranceRules``; default: the vendor defaults.
        image_like: compute PSNR; default: guessed from dtype and ``meta_a``/``meta_b``.
        meta_a, meta_b: recorded per-tensor metadata (layout, mode, ...).
        chunk: elements per pass of the metric loop.
        measured: a ``metrics.Measured`` of these arrays, used when it holds their metrics at this
            tolerance's rtol and this chunk (a diff measures large pairs as it loads them).

    Returns:
        TensorComparison. A shape or dtype mismatch is a result, never an exception.

    Example:
        >>> compare_arrays(np.zeros(3, np.uint8), np.zeros(3, np.uint8)).status
        'equal'
    """
    a = np.asarray(a)
    b = np.asarray(b)
    result = TensorComparison(name, None, role=role, shape_a=a.shape, shape_b=b.shape,
                              dtype_a=dtype_name(a.dtype), dtype_b=dtype_name(b.dtype), basis="payload")
    notes = result.notes
    a, b = _squeeze_batch(a, b, notes)
    if tol is None:
        tol = (rules or _DEFAULT_RULES).resolve(stage, name, pair_is_float(a.dtype, b.dtype))
    result.tolerance = tol
    if a.shape != b.shape:
        result.status = Status.SHAPE_MISMATCH
        if a.size == b.size:
            notes.append("same number of elements (%d): a layout change or reshape?" % a.size)
        return result
    if a.dtype.kind not in _NUMERIC_KINDS + "c" or b.dtype.kind not in _NUMERIC_KINDS + "c":
        return _compare_non_numeric(a, b, result)
    if a.dtype != b.dtype:
        notes.append("dtypes differ (%s vs %s): compared as float64" % (a.dtype, b.dtype))
    if a.dtype.kind == "c" or b.dtype.kind == "c":
        # Complex: compare real and imaginary parts as one real array of twice the length.
        a = np.stack([a.real, a.imag], axis=-1)
        b = np.stack([b.real, b.imag], axis=-1)
    if measured is not None and measured.fits(a, b, tol.rtol, chunk):
        m = measured.metrics
    else:
        m = array_metrics(a, b, rtol=tol.rtol, chunk=chunk)
    result.max_abs_diff = m.max_abs_diff
    result.mean_abs_diff = m.mean_abs_diff
    result.max_rel_diff = m.max_rel_diff
    result.cosine = m.cosine if a.size > 1 else None  # one value has no direction: cosine would only be its sign
    result.equal_ratio = m.equal_ratio
    result.min_atol = m.min_atol
    result.nonfinite_mismatch = m.nonfinite_mismatch
    if m.max_abs_index is not None and a.size:
        result.max_abs_index = unravel(m.max_abs_index, a.shape)
    if image_like is None:
        image_like = looks_like_image(a, meta_a) or looks_like_image(b, meta_b)
    if image_like:
        result.psnr = psnr(m.mse, image_peak(a, b))
    result.status = _ladder(a, b, m, tol)
    if m.nonfinite_mismatch:
        _describe_nonfinite(result, a, b)
    return result


def unravel(index, shape):
    """``np.unravel_index`` as ints, by division for the common case (no numpy call per pair)."""
    if not shape:
        return ()
    index = int(index)
    if not 0 <= index < math.prod(shape):
        return tuple(int(i) for i in np.unravel_index(index, shape))  # numpy names the problem
    out = []
    for dim in reversed(shape):
        index, rest = divmod(index, dim)
        out.append(rest)
    return tuple(reversed(out))


def _describe_nonfinite(result, a, b):
    """NaN/Inf at different positions: a divergence whose finite-only figures would mislead
    (max abs diff 0, cosine 1), so they are replaced by the per-side counts."""
    result.nonfinite_a, result.nonfinite_b = _nonfinite_counts(a), _nonfinite_counts(b)
    for key in ("max_abs_diff", "mean_abs_diff", "max_rel_diff", "cosine", "psnr", "min_atol"):
        setattr(result, key, None)
    result.max_abs_index = None
    result.notes.append("%d element(s) are NaN or Inf on one side only" % result.nonfinite_mismatch)


def _nonfinite_counts(x):
    if x.dtype.kind not in "fc":
        return {"nan": 0, "inf": 0}
    return {"nan": int(np.count_nonzero(np.isnan(x))), "inf": int(np.count_nonzero(np.isinf(x)))}


def _ladder(a, b, m, tol):
    """Place computed metrics on the ladder.

    SIMILAR is a rung for floating-point pairs only: integer tensors (images, labels) must agree
    within their tolerance, and the cosine of all-positive pixel data is high whatever they show.
    Like tpu-mlir's npz_tool it needs both the cosine and the euclidean similarity at the threshold:
    cosine alone calls 2.0 and 9.0 everywhere similar.
    """
    all_equal = m.nonfinite_mismatch == 0 and m.equal_ratio == 1.0
    if all_equal and a.dtype == b.dtype:
        if a.dtype.kind in "iu" and not np.array_equal(a, b):
            # float64 cannot tell apart integers above 2**53; trust the exact check.
            return Status.DIVERGED if tol.atol == 0 else Status.CLOSE
        return Status.EQUAL
    if m.nonfinite_mismatch:
        return Status.DIVERGED
    if m.min_atol <= tol.atol:
        return Status.CLOSE
    if (pair_is_float(a.dtype, b.dtype) and m.cosine is not None and m.cosine >= tol.cosine
            and m.euclidean_similarity >= tol.cosine):
        return Status.SIMILAR
    return Status.DIVERGED


def _compare_non_numeric(a, b, result):
    """Strings, objects, structured arrays: equal or diverged."""
    try:
        same = a.dtype == b.dtype and bool(np.array_equal(a, b))
    except (TypeError, ValueError):
        same = False
    result.status = Status.EQUAL if same else Status.DIVERGED
    result.equal_ratio = 1.0 if same else None
    result.notes.append("non-numeric dtype: compared for equality only")
    return result


def compare_values(va, vb, *, name="out", role=None, kind_a=None, kind_b=None):
    """Compare two non-array values (strings, bytes, None, object reprs): equal or diverged."""
    result = TensorComparison(name, None, role=role, basis="value",
                              dtype_a=kind_a, dtype_b=kind_b)
    try:
        same = bool(va == vb)
    except Exception:  # exotic __eq__ (arrays inside objects): fall back to the printed form
        same = repr(va) == repr(vb)
    result.status = Status.EQUAL if same and kind_a == kind_b else Status.DIVERGED
    if not same:
        result.notes.append("values differ: %s vs %s" % (_short(va), _short(vb)))
    elif kind_a != kind_b:
        result.notes.append("kinds differ: %s vs %s" % (kind_a, kind_b))
    return result


def _short(value, limit=60):
    text = repr(value)
    return text if len(text) <= limit else text[:limit - 3] + "..."
