"""Compare two recorded tensors (reader ``Tensor`` objects) on the cheapest sound basis.

Order of preference: equal content hashes (EQUAL without loading anything), both payloads
(loaded one pair at a time and released on return), scalar values, and for stats-mode records
the recorded statistics, which give a lower bound on the max abs diff.
"""
from __future__ import annotations


from .pairs import compare_arrays, compare_values, pair_is_float
from .results import Status, TensorComparison
from ..store.hashing import same_content
from .tolerance import ToleranceRules

_DEFAULT_RULES = ToleranceRules()


def _arrayish(tensor):
    """Arrays, bytes (recorded as uint8 arrays) and numeric scalars compare numerically."""
    return tensor.is_array


def _shape(tensor):
    shape = getattr(tensor, "shape", None)
    return tuple(shape) if shape is not None else None


def compare_records(ta, tb, *, stage=None, name=None, rules=None, chunk=None):
    """Compare tensor record ``ta`` (run A) with ``tb`` (run B).

    Args:
        ta, tb: reader ``Tensor`` objects (or anything with the same attributes).
        stage: stage name in run A, for tolerance rules.
        name: name to report; default ``ta.name``.
        rules: ``ToleranceRules``; default: the vendor defaults.
        chunk: elements per metric pass (None: the default).

    Returns:
        TensorComparison; unloadable payloads give status ``error`` with a note, never an exception.
    """
    rules = rules or _DEFAULT_RULES
    name = ta.name if name is None else name
    role = getattr(ta, "role", None)
    name_b = tb.name if tb.name != name else None
    if not (_arrayish(ta) and _arrayish(tb)):
        result = compare_values(ta.value, tb.value, name=name, role=role,
                                kind_a=ta.kind, kind_b=tb.kind)
        result.name_b = name_b
        return result
    if same_content(ta, tb):
        return _equal_by_hash(ta, tb, name, role, name_b, stage, rules)
    if ta.has_payload and tb.has_payload:
        try:
            a = ta.load()
            b = tb.load()
        except Exception as exc:  # a damaged payload is a finding about the run, not a crash
            result = TensorComparison(name, Status.ERROR, role=role, name_b=name_b,
                                      shape_a=_shape(ta), shape_b=_shape(tb),
                                      dtype_a=ta.dtype, dtype_b=tb.dtype, basis="payload")
            result.notes.append("could not load a payload: %s: %s" % (type(exc).__name__, exc))
            return result
        kwargs = {"chunk": chunk} if chunk else {}
        result = compare_arrays(a, b, name=name, role=role, stage=stage, rules=rules,
                                meta_a=getattr(ta, "meta", None), meta_b=getattr(tb, "meta", None),
                                **kwargs)
        result.name_b = name_b
        return result
    return compare_stats(ta, tb, stage=stage, name=name, rules=rules)


def _equal_by_hash(ta, tb, name, role, name_b, stage, rules):
    result = TensorComparison(name, Status.EQUAL, role=role, name_b=name_b, shape_a=_shape(ta),
                              shape_b=_shape(tb), dtype_a=ta.dtype, dtype_b=tb.dtype,
                              basis="hash")
    result.tolerance = rules.resolve(stage, name, pair_is_float(ta.dtype, tb.dtype))
    result.max_abs_diff = 0.0
    result.mean_abs_diff = 0.0
    result.max_rel_diff = 0.0
    result.min_atol = 0.0
    result.equal_ratio = 1.0
    result.nonfinite_mismatch = 0
    result.cosine = 1.0
    return result


def _squeezed(shape_a, shape_b):
    if shape_a is None or shape_b is None or shape_a == shape_b:
        return shape_a, shape_b
    if len(shape_a) == len(shape_b) + 1 and shape_a[0] == 1 and shape_a[1:] == shape_b:
        return shape_b, shape_b
    if len(shape_b) == len(shape_a) + 1 and shape_b[0] == 1 and shape_b[1:] == shape_a:
        return shape_a, shape_a
    return shape_a, shape_b


def compare_stats(ta, tb, *, stage=None, name=None, rules=None):
    """Judge a pair from recorded statistics and hashes only (stats-mode runs).

    ``|min_a - min_b|``, ``|max_a - max_b|``, ``|mean_a - mean_b|`` and ``|std_a - std_b|`` are
    each at most ``max |a - b|``, so their maximum is a lower bound on the max abs diff: above the
    tolerance the pair surely diverged. Within it nothing is proven (a tensor with its colour planes
    swapped has the same statistics): equal hashes make it EQUAL, different hashes UNVERIFIED.
    """
    rules = rules or _DEFAULT_RULES
    name = ta.name if name is None else name
    result = TensorComparison(name, None, role=getattr(ta, "role", None),
                              name_b=tb.name if tb.name != name else None,
                              shape_a=_shape(ta), shape_b=_shape(tb), dtype_a=ta.dtype,
                              dtype_b=tb.dtype, basis="stats")
    is_float = pair_is_float(ta.dtype, tb.dtype)
    tol = rules.resolve(stage, name, is_float)
    result.tolerance = tol
    shape_a, shape_b = _squeezed(result.shape_a, result.shape_b)
    if shape_a != shape_b:
        result.status = Status.SHAPE_MISMATCH
        return result
    counts_a = {"nan": ta.nan_count or 0, "inf": ta.inf_count or 0}
    counts_b = {"nan": tb.nan_count or 0, "inf": tb.inf_count or 0}
    if counts_a != counts_b:
        result.status = Status.DIVERGED
        result.nonfinite_a, result.nonfinite_b = counts_a, counts_b
        result.nonfinite_mismatch = abs(counts_a["nan"] - counts_b["nan"]) + abs(counts_a["inf"] - counts_b["inf"])
        result.notes.append("NaN/Inf counts differ: A %d/%d, B %d/%d" % (
            counts_a["nan"], counts_a["inf"], counts_b["nan"], counts_b["inf"]))
        return result
    same = same_content(ta, tb)
    if same:
        return _equal_by_hash(ta, tb, name, result.role, result.name_b, stage, rules)
    pairs = [(getattr(ta, k), getattr(tb, k)) for k in ("min", "max", "mean", "std")]
    known = [(x, y) for x, y in pairs if x is not None and y is not None]
    if not known:
        result.status = Status.DIVERGED if same is False else Status.UNVERIFIED
        result.notes.append("no statistics recorded; %s" % (
            "the content hashes differ" if same is False else "the contents could not be compared"))
        return result
    bound = max(abs(float(x) - float(y)) for x, y in known)
    result.max_abs_diff = bound
    if ta.mean is not None and tb.mean is not None:
        result.mean_abs_diff = abs(float(ta.mean) - float(tb.mean))
    scale = max(abs(float(v)) for v in (ta.min, ta.max) if v is not None) if (
        ta.min is not None or ta.max is not None) else 0.0
    result.min_atol = max(0.0, bound - tol.rtol * scale)
    if result.min_atol > tol.atol:
        result.status = Status.DIVERGED
        result.notes.append("stats-mode record: max abs diff is at least %.4g (from min/max/mean/"
                            "std)" % bound)
    elif same is False and tol.atol == 0 and tol.rtol == 0:
        result.status = Status.DIVERGED
        result.notes.append("stats-mode record: contents differ (content hash) and the tolerance "
                            "requires exact equality")
    else:
        result.status = Status.UNVERIFIED
        result.notes.append("stats-mode record: %s; min/max/mean/std agree within tolerance, which does "
                            "not prove the values agree (a channel swap keeps them): record this stage in "
                            "full mode to verify" % ("the content hashes differ" if same is False
                                                     else "the contents could not be compared by hash"))
    if ta.dtype != tb.dtype:
        result.notes.append("dtypes differ (%s vs %s)" % (ta.dtype, tb.dtype))
    return result
