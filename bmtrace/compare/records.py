"""Compare two recorded tensors (reader ``Tensor`` objects) on the cheapest sound basis.

Order of preference: equal content hashes (EQUAL without loading anything), both payloads
(loaded one pair at a time and released on return), scalar values, and for stats-mode records
the recorded statistics and sketches, which give lower bounds on the max abs diff.
"""
from __future__ import annotations

import threading

from .pairs import compare_arrays, compare_values, pair_is_float, unravel
from .results import Status, TensorComparison
from ..store.hashing import same_content
from .sketches import describe_order, sketch_evidence
from .tolerance import ToleranceRules

_DEFAULT_RULES = ToleranceRules()


def _arrayish(tensor):
    """Arrays, bytes (recorded as uint8 arrays) and numeric scalars compare numerically."""
    return tensor.is_array


def _shape(tensor):
    shape = getattr(tensor, "shape", None)
    return tuple(shape) if shape is not None else None


def compare_records(ta, tb, *, stage=None, name=None, rules=None, chunk=None, loaded=None):
    """Compare tensor record ``ta`` (run A) with ``tb`` (run B).

    Args:
        ta, tb: reader ``Tensor`` objects (or anything with the same attributes).
        stage: stage name in run A, for tolerance rules.
        name: name to report; default ``ta.name``.
        rules: ``ToleranceRules``; default: the vendor defaults.
        chunk: elements per metric pass (None: the default).
        loaded: a list that receives ``(a, b)`` when both payloads were loaded, so a caller that looks
            at the arrays again (the representation check) does not read them twice.

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
        return equal_by_hash(ta, tb, name, role, name_b, stage, rules)
    if ta.has_payload and tb.has_payload:
        try:
            a = _load(ta)
            b = _load(tb)
        except Exception as exc:  # a damaged payload is a finding about the run, not a crash
            result = TensorComparison(name, Status.ERROR, role=role, name_b=name_b,
                                      shape_a=_shape(ta), shape_b=_shape(tb),
                                      dtype_a=ta.dtype, dtype_b=tb.dtype, basis="payload")
            result.notes.append("could not load a payload: %s: %s" % (type(exc).__name__, exc))
            return result
        if loaded is not None:
            loaded.append((a, b))
        kwargs = {"chunk": chunk} if chunk else {}
        result = compare_arrays(a, b, name=name, role=role, stage=stage, rules=rules,
                                meta_a=getattr(ta, "meta", None), meta_b=getattr(tb, "meta", None),
                                measured=_measured(ta, tb), **kwargs)
        result.name_b = name_b
        return result
    return compare_stats(ta, tb, stage=stage, name=name, rules=rules)


class Loaded(dict):
    """``{id(tensor): array}`` loaded ahead by a diff, and in ``measured`` the metrics of pairs measured
    as they were loaded: ``{(id(tensor A), id(tensor B)): metrics.Measured}``. ``tensors`` keeps those
    tensors alive, so that no other object takes one of their ids while this is in use."""

    __slots__ = ("measured", "tensors")

    def __init__(self, tensors=()):
        super().__init__()
        self.measured = {}
        self.tensors = tensors


class preloaded:
    """``with preloaded({id(tensor): array}):`` compare_records (and ``load_tensor``) on this thread use
    those arrays (loaded ahead by the diff's prefetch threads) instead of reading the payloads again,
    and the metrics a ``Loaded`` holds instead of measuring again. The arrays stay available until the
    block ends, so later steps on the same call pair (its predictions) do not read them a second time."""

    def __init__(self, arrays):
        self.arrays = arrays

    def __enter__(self):
        _local.arrays = self.arrays
        return self

    def __exit__(self, *exc):
        _local.arrays = None


_local = threading.local()


def load_tensor(tensor):
    """``tensor.load()``, or the array a surrounding ``preloaded`` block already holds for it."""
    arrays = getattr(_local, "arrays", None)
    if arrays:
        array = arrays.get(id(tensor))
        if array is not None:
            return array
    return tensor.load()


_load = load_tensor


def _measured(ta, tb):
    """The ``Measured`` a surrounding ``preloaded(Loaded)`` block holds for this pair, or None."""
    measured = getattr(getattr(_local, "arrays", None), "measured", None)
    return measured.get((id(ta), id(tb))) if measured else None


def equal_by_hash(ta, tb, name, role, name_b, stage, rules):
    """The EQUAL verdict on records with equal content hashes (their shapes and dtypes as recorded)."""
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
    """Judge a pair from recorded statistics, hashes and sketches only (stats-mode runs).

    ``|min_a - min_b|``, ``|max_a - max_b|``, ``|mean_a - mean_b|`` and ``|std_a - std_b|`` are
    each at most ``max |a - b|``, so their maximum is a lower bound on the max abs diff: above the
    tolerance the pair surely diverged. When both records carry a sketch (values at the same
    shape-determined positions, ``bmtrace.codecs.sketch``), every sampled difference is a real one
    too, and a channel swap or a layout scramble shows there although the statistics agree. Within
    the tolerance nothing is proven: equal hashes make it EQUAL, different hashes UNVERIFIED (with
    the sketch's estimates of the mean abs diff and the cosine).
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
        return equal_by_hash(ta, tb, name, result.role, result.name_b, stage, rules)
    evidence = sketch_evidence(ta, tb, shape_a, tol.rtol)
    if evidence is not None and evidence.complete:
        return _from_complete_sketch(evidence, result, ta, tb, tol)
    # Differences of means and stds bound the max abs diff only when both were taken over the same
    # elements (all of them, or the same stats-mode sample): min and max always are.
    # Each statistic is read once: a lazily parsed record (the reader's IndexedTensor) looks every one up.
    same_basis = getattr(ta, "stats_sample", None) == getattr(tb, "stats_sample", None)
    min_a, max_a, min_b, max_b = ta.min, ta.max, tb.min, tb.max
    pairs = [(min_a, min_b), (max_a, max_b)]
    if same_basis:
        mean_a, mean_b = ta.mean, tb.mean
        pairs += [(mean_a, mean_b), (ta.std, tb.std)]
    known = [(x, y) for x, y in pairs if x is not None and y is not None]
    if not known and evidence is None:
        result.status = Status.DIVERGED if same is False else Status.UNVERIFIED
        result.notes.append("no statistics recorded; %s" % (
            "the content hashes differ" if same is False else "the contents could not be compared"))
        return result
    bound = max(abs(float(x) - float(y)) for x, y in known) if known else 0.0
    result.max_abs_diff = bound
    if same_basis and mean_a is not None and mean_b is not None:
        result.mean_abs_diff = abs(float(mean_a) - float(mean_b))
    scale = max(abs(float(v)) for v in (min_a, max_a) if v is not None) if (
        min_a is not None or max_a is not None) else 0.0
    stats_min_atol = max(0.0, bound - tol.rtol * scale)
    result.min_atol = stats_min_atol
    if evidence is not None:
        _apply_sketch(evidence, result, scale, tol, shape_a, ta.std)
    if result.nonfinite_mismatch:
        result.status = Status.DIVERGED
    elif result.min_atol > tol.atol:
        result.status = Status.DIVERGED
        if stats_min_atol > tol.atol:
            result.notes.append("stats-mode record: max abs diff is at least %.4g (from min/max/mean/"
                                "std)" % bound)
    elif same is False and tol.atol == 0 and tol.rtol == 0:
        result.status = Status.DIVERGED
        result.notes.append("stats-mode record: contents differ (content hash) and the tolerance "
                            "requires exact equality")
    elif evidence is not None:
        result.status = Status.UNVERIFIED
        result.notes.append(
            "stats-mode record: %s; the sketch (%d of %d elements) and min/max/mean/std agree within "
            "tolerance, which does not prove the other values agree: record this stage in full mode "
            "to verify" % (_hash_words(same), evidence.count, evidence.size))
    else:
        result.status = Status.UNVERIFIED
        result.notes.append("stats-mode record: %s; min/max/mean/std agree within tolerance, which does "
                            "not prove the values agree (a channel swap keeps them): record this stage in "
                            "full mode to verify" % _hash_words(same))
    if ta.dtype != tb.dtype:
        result.notes.append("dtypes differ (%s vs %s)" % (ta.dtype, tb.dtype))
    return result


def sketch_request(ta, tb, stage, rules):
    """``(shape, rtol)``: what ``compare_records`` of this pair would pass ``sketch_evidence``, by what
    the records alone say; None when it would not get there (values, equal contents, payloads to
    compare, shapes or NaN/Inf counts that differ). A diff computes the evidence of coming pairs
    ahead, together (``bmtrace.diff.sketch_ahead``)."""
    if not (_arrayish(ta) and _arrayish(tb)) or (ta.has_payload and tb.has_payload):
        return None
    shape_a, shape_b = _squeezed(_shape(ta), _shape(tb))
    if shape_a != shape_b or (ta.nan_count or 0) != (tb.nan_count or 0) or \
            (ta.inf_count or 0) != (tb.inf_count or 0) or same_content(ta, tb):
        return None
    return shape_a, (rules or _DEFAULT_RULES).resolve(stage, ta.name, pair_is_float(ta.dtype, tb.dtype)).rtol


def _hash_words(same):
    return "the content hashes differ" if same is False else "the contents could not be compared by hash"


# Values put in another order are unrelated at the same positions: their mean abs difference is of the
# order of their spread (1.13 std for independent normal values). Noise or rounding stays far below.
_UNRELATED = 0.25


def _apply_sketch(ev, result, scale, tol, shape, spread=None):
    """Fold sketch figures into a stats-mode result: bounds raise the lower bound, estimates fill in.
    ``spread``: A's recorded std, which says whether sampled differences are large enough to suggest
    a reordering."""
    result.basis = "sketch"
    stats_bound = result.max_abs_diff or 0.0
    result.max_abs_diff = max(stats_bound, ev.bound, ev.channel_bound or 0.0)
    result.min_atol = max(result.min_atol or 0.0, ev.min_atol,
                          max(0.0, (ev.channel_bound or 0.0) - tol.rtol * scale))
    if ev.mean_abs is not None:
        result.mean_abs_diff = max(result.mean_abs_diff or 0.0, ev.mean_abs)
    result.cosine = ev.cosine
    notes = result.notes
    if ev.nonfinite_mismatch:
        result.nonfinite_mismatch = ev.nonfinite_mismatch
        result.max_abs_diff = result.cosine = result.mean_abs_diff = result.min_atol = None
        notes.append("sketch: NaN/Inf at different positions (at %s: A %r, B %r), although the counts agree"
                     % (_index_text(ev.index, shape), ev.value_a, ev.value_b))
        return
    if ev.min_atol > tol.atol and ev.index is not None:
        result.max_abs_index = unravel(ev.index, shape)
        notes.append("sketch: at %s A is %.6g and B is %.6g (|diff| %.4g), so max abs diff >= %.4g; "
                     "estimated from %d sampled of %d elements: mean abs diff %.4g, cosine %s"
                     % (_index_text(ev.index, shape), ev.value_a, ev.value_b, ev.bound, ev.bound,
                        ev.count, ev.size, ev.mean_abs, "unknown" if ev.cosine is None else "%.6f" % ev.cosine))
        if stats_bound <= tol.atol and isinstance(spread, (int, float)) and spread > 0 and \
                ev.mean_abs is not None and ev.mean_abs >= _UNRELATED * spread:
            notes.append("sketch: min/max/mean/std agree but the values at the same positions do not: "
                         "the same values in another order (channel order, layout, transposition)?")
    if ev.channel_order is not None:
        notes.append("sketch: " + describe_order(ev.channel_order))
    elif ev.channel_bound is not None and ev.channel_bound - tol.rtol * scale > tol.atol:
        notes.append("sketch: per-channel statistics differ by up to %.4g" % ev.channel_bound)
    if ev.offset is not None and abs(ev.offset) > tol.atol:
        notes.append("sketch: every sampled element of B is A's %+.4g (a constant offset)" % ev.offset)
    if ev.scale is not None and ev.min_atol > tol.atol:
        by_255 = abs(ev.scale / 255.0 - 1.0) <= 1e-3 or abs(ev.scale * 255.0 - 1.0) <= 1e-3
        notes.append("sketch: every sampled element of B is %.6g times A's (a constant scale%s)"
                     % (ev.scale, ": one side divides by 255 and the other does not?" if by_255 else ""))


def _from_complete_sketch(ev, result, ta, tb, tol):
    """A tensor no larger than its sketch is known in full: the whole metric ladder applies."""
    a, b = ev.arrays
    full = compare_arrays(a, b, tol, name=result.name, role=result.role,
                          meta_a=getattr(ta, "meta", None), meta_b=getattr(tb, "meta", None))
    full.basis = "sketch"
    full.whole_sketch = True
    full.name_b = result.name_b
    full.dtype_a, full.dtype_b = ta.dtype, tb.dtype
    full.notes.append("stats-mode record: the sketch holds all %d elements, so these figures are exact"
                      % ev.size)
    return full


def _index_text(index, shape):
    return "index %s" % (list(unravel(index, shape)),) if index is not None else "a sampled position"
