"""The C sweep (bmtrace/compare/_fused.c) against the numpy sweep it stands in for.

Maxima, their index, equal counts, relative figures and min atol must be the numpy path's bit for bit;
the sums are accumulated in double, so on ordinary data cosine, MSE and mean abs diff agree to float32
rounding and are closer to the exact values (and stay right where float32 products overflow). Pairs
the C sweep does not take (NaN/Inf, mixed or other dtypes, byte-swapped data) must give exactly the
numpy path's result.
"""
import os

import numpy as np
import pytest

from bmtrace.compare import metrics
from bmtrace.compare.metrics import array_metrics

fused_sweep = metrics._fused_sweep
needs_fused = pytest.mark.skipif(fused_sweep is None, reason="the C extension bmtrace.compare._fused is not built")

_EXACT = ("size", "max_abs_diff", "max_abs_index", "max_rel_diff", "equal_ratio", "min_atol", "nonfinite_mismatch")
_SUMS = ("mean_abs_diff", "mse", "cosine", "euclidean_similarity")


def _numpy(a, b, monkeypatch, **kwargs):
    with monkeypatch.context() as patch:
        patch.setattr(metrics, "_fused_sweep", None)
        return array_metrics(a, b, **kwargs)


def _agree(c, n):
    for name in _EXACT:
        assert repr(getattr(c, name)) == repr(getattr(n, name)), name
    for name in _SUMS:
        assert getattr(c, name) == pytest.approx(getattr(n, name), rel=2e-6, abs=1e-9), name


def test_built_where_ci_builds_it():
    """scripts/test.sh sets BMTRACE_REQUIRE_FUSED: there a missing build is a failure, not a skip."""
    if os.environ.get("BMTRACE_REQUIRE_FUSED") == "1":
        assert fused_sweep is not None, "bmtrace.compare._fused was not built by pip install -e ."


@needs_fused
@pytest.mark.parametrize("dtype", ["float32", "float64", "uint8", "int8", "uint16", "int16", "bool"])
@pytest.mark.parametrize("rtol", [0.0, 1e-3])
def test_every_dtype_agrees_with_numpy(dtype, rtol, monkeypatch):
    rng = np.random.default_rng(7)
    for size, chunk in ((1, 64), (7, 64), (8, 64), (9, 64), (63, 16), (64, 16), (1000, 64), (5000, 4096)):
        if dtype == "bool":
            a = rng.random(size) < 0.5
            b = a ^ (rng.random(size) < 0.2)
        elif dtype.startswith("float"):
            a = (rng.standard_normal(size) * 100).astype(dtype)
            b = (a + rng.standard_normal(size) * (rng.random(size) < 0.7)).astype(dtype)
            a[rng.random(size) < 0.1] = 0  # zeros in the reference: left out of the relative figure
        else:
            info = np.iinfo(dtype)
            a = rng.integers(info.min, int(info.max) + 1, size).astype(dtype)
            b = a.copy()
            flip = rng.random(size) < 0.5
            b[flip] = rng.integers(info.min, int(info.max) + 1, int(flip.sum())).astype(dtype)
        _agree(array_metrics(a, b, rtol=rtol, chunk=chunk), _numpy(a, b, monkeypatch, rtol=rtol, chunk=chunk))


@needs_fused
def test_first_of_equal_maxima_across_lanes_and_chunks(monkeypatch):
    """The index of max |a - b| is its first occurrence, as argmax gives it, whatever lane or chunk holds it."""
    for positions in ([3, 11], [13, 5], [70, 66, 200], [65, 130, 2]):
        a = np.zeros(257, np.float32)
        b = a.copy()
        b[positions] = 2.0
        b[[p + 1 for p in positions if p + 1 < 257]] = 1.0
        c = array_metrics(a, b, chunk=64)
        assert c.max_abs_index == min(positions)
        _agree(c, _numpy(a, b, monkeypatch, chunk=64))


@needs_fused
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf, "overflow"])
def test_non_finite_values_take_the_numpy_path(bad, monkeypatch):
    rng = np.random.default_rng(1)
    a = rng.standard_normal(3000).astype(np.float32)
    b = a + np.float32(0.5)
    if bad == "overflow":  # both finite, but their difference is not
        a[2500], b[2500] = 3e38, -3e38
    else:
        b[2500] = bad
        a[10] = b[10] = bad  # the same non-finite value on both sides counts as equal
    assert fused_sweep(a, b, "f", 0, a.size, 1024, 0.0, np.empty((3, 5))) is None
    assert repr(array_metrics(a, b, chunk=1024)) == repr(_numpy(a, b, monkeypatch, chunk=1024))


@needs_fused
def test_two_threads_give_one_threads_bits():
    rng = np.random.default_rng(3)
    a = rng.standard_normal(metrics.PARALLEL_ELEMENTS + 12345).astype(np.float32)
    b = a * np.float32(1.001) + np.float32(1e-4)
    assert repr(array_metrics(a, b, rtol=1e-3, threads=2)) == repr(array_metrics(a, b, rtol=1e-3, threads=1))


@needs_fused
def test_sums_in_double_are_closer_to_exact(monkeypatch):
    """b = 1.01 a: the exact cosine is 1 up to b's rounding; float32 pairwise sums lose about 1e-8 of it."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal(480 * 640 * 3).astype(np.float32)
    b = a * np.float32(1.01)
    x, y = a.astype(np.float64), b.astype(np.float64)
    exact_cosine = float(np.dot(x, y) / np.sqrt(np.dot(x, x) * np.dot(y, y)))
    exact_mean = float(np.abs(x - y).mean())
    c, n = array_metrics(a, b), _numpy(a, b, monkeypatch)
    assert abs(c.cosine - exact_cosine) < 1e-12 < abs(n.cosine - exact_cosine)
    assert abs(c.mean_abs_diff - exact_mean) <= abs(n.mean_abs_diff - exact_mean)


@needs_fused
def test_pairs_it_does_not_take_are_the_numpy_paths(monkeypatch):
    """Mixed dtypes, other dtypes, byte-swapped, non-contiguous and unaligned data."""
    rng = np.random.default_rng(5)
    a = rng.standard_normal(999).astype(np.float32)
    b = a + np.float32(0.25)
    cases = [
        (a, b.astype(np.float64)),
        (a.astype(np.float16), b.astype(np.float16)),
        (a.astype(np.int32), b.astype(np.int32)),
        (a.astype(">f4"), b.astype(">f4")),
    ]
    raw = np.zeros(a.nbytes + 1, np.uint8)
    unaligned = np.frombuffer(raw.data, np.float32, a.size, offset=1)
    unaligned[:] = a
    cases.append((unaligned, b))
    for x, y in cases:
        assert repr(array_metrics(x, y)) == repr(_numpy(x, y, monkeypatch))
    strided = np.stack([a, b])  # a column of a C array: flattened into a buffer, then swept in C
    _agree(array_metrics(strided[:, ::2].T, strided[::-1, ::2].T), _numpy(strided[:, ::2].T, strided[::-1, ::2].T,
                                                                          monkeypatch))


@needs_fused
def test_bad_arguments_are_errors_not_crashes():
    a = np.zeros(10, np.float32)
    with pytest.raises(ValueError, match="unsupported"):
        fused_sweep(a, a, "q", 0, 10, 4, 0.0, np.empty((3, 5)))
    with pytest.raises(ValueError, match="do not fit"):
        fused_sweep(a, a, "f", 0, 11, 4, 0.0, np.empty((3, 5)))  # past the end of the arrays
    with pytest.raises(ValueError, match="do not fit"):
        fused_sweep(a, a, "f", 0, 10, 4, 0.0, np.empty((2, 5)))  # no room for the third chunk's sums
    with pytest.raises(ValueError, match="do not fit"):
        fused_sweep(a, a, "f", 0, 10, 0, 0.0, np.empty((3, 5)))
    with pytest.raises(ValueError, match="do not fit"):
        fused_sweep(a, a, "f", 0, 10, (1 << 30) + 1, 0.0, np.empty((3, 5)))  # chunks are counted in 32 bits


@needs_fused
def test_bool_bytes_other_than_one_count_as_true(monkeypatch):
    """A .view(bool) may hold bytes other than 0 and 1: numpy (and so the sweep) reads any non-zero as 1."""
    a = np.array([1, 0, 7, 0, 1] * 5, np.uint8).view(bool)
    b = np.array([2, 0, 1, 3, 255] * 5, np.uint8).view(bool)
    c = array_metrics(a, b)
    assert repr(c) == repr(_numpy(a, b, monkeypatch))
    assert c.max_abs_diff == 1.0 and c.equal_ratio == pytest.approx(0.8)


@needs_fused
def test_sums_stay_right_where_float32_products_overflow(monkeypatch):
    a = np.array([2e19, 1.0] * 8, np.float32)
    b = np.array([-2e19, 1.0] * 8, np.float32)
    assert array_metrics(a, b).cosine == pytest.approx(-1.0)  # opposite vectors; float32 x.x is Inf


@needs_fused
def test_huge_ranges_are_refused_not_read():
    """Lengths are checked by division: an end or a chunk count whose byte size wraps is an error."""
    a = np.zeros(8, np.float64)
    with pytest.raises(ValueError, match="do not fit"):
        fused_sweep(a, a, "d", 0, 2 ** 61, 1, 0.0, np.empty((1, 5)))
    with pytest.raises(ValueError, match="do not fit"):
        fused_sweep(a.astype(np.float32), a.astype(np.float32), "f", 0, 2 ** 62, 1, 0.0, np.empty((1, 5)))
