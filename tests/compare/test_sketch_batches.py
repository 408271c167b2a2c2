"""Sketch evidence computed for many pairs at once (a diff's chunk) is each pair's own, bit for bit."""
import math

import numpy as np

from bmtrace.codecs.sketch import sketch
from bmtrace.compare.sketches import SketchEvidence, computed_ahead, evidence_of_pairs, sketch_evidence


class _Record:
    def __init__(self, array):
        self.sketch, self.dtype, self.shape = sketch(array), str(array.dtype), array.shape


def _same(x, y):
    if isinstance(x, float) and isinstance(y, float):
        return x == y or (math.isnan(x) and math.isnan(y))
    if isinstance(x, tuple) and x and isinstance(x[0], np.ndarray):
        return all(np.array_equal(p, q, equal_nan=True) for p, q in zip(x, y))
    return x == y


def _assert_same(batched, alone):
    assert (batched is None) == (alone is None)
    if alone is not None:
        for slot in SketchEvidence.__slots__:
            assert _same(getattr(batched, slot), getattr(alone, slot)), slot


def _pairs(rng, count):
    """Pairs of the kinds a port makes: noise, an offset, a scale, swapped channels, NaN/Inf, integer
    images, a tensor kept whole, sketches of different lengths (a wider dtype on one side)."""
    out = []
    for _ in range(count):
        kind = rng.integers(0, 8)
        shape = [(16, 16, 3), (3, 20, 20), (1, 1000), (7,), (64, 64)][rng.integers(0, 5)]
        if kind == 0:
            a = rng.integers(0, 256, shape, dtype=np.uint8)
            b = a.copy()
            b.reshape(-1)[::7] ^= 1
        elif kind == 1:
            a = rng.standard_normal(shape).astype(np.float32)
            b = a + np.float32(0.25)
        elif kind == 2:
            a = rng.standard_normal(shape).astype(np.float32)
            b = a * np.float32(1 / 255.0)
        elif kind == 3:
            a = rng.standard_normal(shape).astype(np.float32)
            b = a[..., ::-1].copy() if shape[-1] == 3 else a[::-1].copy()
        elif kind == 4:
            a = rng.standard_normal(shape).astype(np.float32)
            b = a.copy()
            b.reshape(-1)[rng.integers(0, b.size, 5)] = [np.nan, np.inf, -np.inf, np.nan, 1e30]
            a.reshape(-1)[rng.integers(0, a.size, 2)] = np.nan
        elif kind == 5:
            a = rng.standard_normal(shape)
            b = (a + 1e-6 * rng.standard_normal(shape)).astype(np.float32)  # float64 against float32
        elif kind == 6:
            a = rng.standard_normal(shape).astype(np.float16)
            b = a
        else:
            a = (rng.standard_normal(shape) * 3e200)
            b = -a
        rtol = [0.0, 1e-3][rng.integers(0, 2)]
        out.append((_Record(a), _Record(b), tuple(a.shape), rtol))
    return out


def test_pairs_computed_together_get_each_their_own_figures():
    rng = np.random.default_rng(11)
    items = _pairs(rng, 400)
    batched = evidence_of_pairs(items)
    for item, evidence in zip(items, batched):
        _assert_same(evidence, evidence_of_pairs([item])[0])
    kinds = [ev for ev in batched if ev is not None and not ev.complete]
    assert any(ev.offset is not None for ev in kinds) and any(ev.scale is not None for ev in kinds)
    assert any(ev.nonfinite_mismatch for ev in kinds) and any(ev.channel_order is not None for ev in kinds)
    assert any(ev.complete for ev in batched if ev is not None)


def test_a_pair_computed_ahead_is_looked_up_and_others_are_computed():
    rng = np.random.default_rng(5)
    (ta, tb, shape, rtol), (tc, td, shape_c, rtol_c) = _pairs(rng, 2)
    evidence = SketchEvidence()
    with computed_ahead({(id(ta), id(tb)): (ta, tb, shape, rtol, evidence)}):
        assert sketch_evidence(ta, tb, shape, rtol) is evidence
        assert sketch_evidence(ta, tb, shape, rtol + 0.5) is not evidence  # another tolerance: computed
        _assert_same(sketch_evidence(tc, td, shape_c, rtol_c), evidence_of_pairs([(tc, td, shape_c, rtol_c)])[0])
    assert sketch_evidence(ta, tb, shape, rtol) is not evidence  # the table is gone with the block


def test_a_bound_beyond_the_float_range_gives_no_nan_minimum_tolerance():
    from bmtrace.compare.sketches import _value_figures

    ev = SketchEvidence()
    a = np.array([[1e308, -1e308, 5.0, 1.0, 2.0, 3.0, 4.0, 6.0]])
    with np.errstate(over="ignore", invalid="ignore"):
        _value_figures([ev], a, -a, None, 2.0)  # |b - a| is inf, and so is rtol * |a|: inf - inf
    assert ev.bound == float("inf") and ev.min_atol == 0.0
