"""Small pairs (a stats-mode sketch holding a whole tensor) take their own route through array_metrics:
every figure must be bit for bit the chunk route's, whatever the values. Both are numpy routes: the C
sweep, which takes most pairs when it is built, is turned off here (tests/compare/test_fused.py)."""
import numpy as np
import pytest

from bmtrace.compare import metrics
from bmtrace.compare.metrics import array_metrics

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import given, settings, strategies as st  # noqa: E402
from hypothesis.extra import numpy as hnp  # noqa: E402


@pytest.fixture(autouse=True)
def _numpy_routes(monkeypatch):
    monkeypatch.setattr(metrics, "_fused_sweep", None)


def _both_routes(a, b, rtol, monkeypatch):
    small = array_metrics(a, b, rtol=rtol)
    with monkeypatch.context() as patch:
        patch.setattr(metrics, "SMALL_ELEMENTS", 0)
        chunked = array_metrics(a, b, rtol=rtol)
    return small, chunked


def _same(m1, m2):
    # repr tells -0.0 from 0.0 and shows NaN, where == would not
    assert repr(m1) == repr(m2)


_SPECIAL = [0.0, -0.0, 1.0, -1.0, np.nan, np.inf, -np.inf, 1e-45, 3e38, -3e38, 65504.0, 1e-8]


@pytest.mark.parametrize("dtype", ["float16", "float32", "float64"])
@pytest.mark.parametrize("rtol", [0.0, 1e-3])
def test_special_float_values(dtype, rtol, monkeypatch):
    """NaN and Inf (same and different positions), signed zeros, overflow, subnormals."""
    with np.errstate(over="ignore"):  # 3e38 is Inf in float16
        values = np.array(_SPECIAL, dtype=np.float64).astype(dtype)
    rng = np.random.default_rng(0)
    for _ in range(40):
        a = rng.choice(values, size=rng.integers(1, 20))
        b = a.copy()
        flip = rng.random(a.size) < 0.4
        b[flip] = rng.choice(values, size=int(flip.sum()))
        _same(*_both_routes(a, b, rtol, monkeypatch))


@pytest.mark.parametrize("dtype_a, dtype_b", [
    ("bool", "bool"), ("uint8", "uint8"), ("int8", "int8"), ("int32", "int32"), ("int64", "int64"),
    ("uint64", "uint64"), ("float16", "float32"), ("uint8", "float32"), ("int64", "float64"),
])
def test_integer_bool_and_mixed_pairs(dtype_a, dtype_b, monkeypatch):
    rng = np.random.default_rng(1)
    for size in (1, 2, 7, 8, 9, 10, 64, 1000, 1024):
        a = rng.integers(0, 2 if dtype_a == "bool" else 100, size).astype(dtype_a)
        b = (a.astype(np.int64) + rng.integers(-1, 2, size) * (rng.random(size) < 0.3)).clip(0, None).astype(dtype_b)
        for rtol in (0.0, 0.01):
            _same(*_both_routes(a, b, rtol, monkeypatch))


def test_equal_zero_and_empty_pairs(monkeypatch):
    for a in (np.zeros(5, np.float32), np.array([-0.0, 0.0], np.float32), np.arange(10.0), np.zeros(0, np.float32)):
        _same(*_both_routes(a, a.copy(), 0.0, monkeypatch))
    _same(*_both_routes(np.zeros(4), np.array([0.0, 1.0, 0.0, -2.0]), 0.5, monkeypatch))


@pytest.mark.parametrize("size", [3, 10, 255, 256, 1023, 1024, 1025])
def test_sizes_around_the_sums_unrolling_and_the_limit(size, monkeypatch):
    """Pairwise sums unroll by 8 and split above 128: row sums must still be 1-D sums."""
    rng = np.random.default_rng(size)
    for dtype in (np.float32, np.float64):
        a = (rng.standard_normal((size,)) * 1e3).astype(dtype)
        b = a + rng.standard_normal(size).astype(dtype)
        _same(*_both_routes(a, b, 1e-3, monkeypatch))
        _same(*_both_routes(a.reshape(1, size)[:, ::-1], b.reshape(1, size), 0.0, monkeypatch))  # not contiguous


_floats = hnp.arrays(np.float32, st.integers(1, 40),
                     elements=st.floats(width=32, allow_nan=True, allow_infinity=True))


@settings(max_examples=200, deadline=None)
@given(_floats, st.data(), st.sampled_from([0.0, 1e-3, 0.5]))
def test_any_float32_pair(a, data, rtol):
    assert metrics._fused_sweep is None  # the autouse fixture holds for every example
    b = data.draw(hnp.arrays(np.float32, a.shape, elements=st.floats(width=32, allow_nan=True, allow_infinity=True)))
    small = array_metrics(a, b, rtol=rtol)
    saved = metrics.SMALL_ELEMENTS
    metrics.SMALL_ELEMENTS = 0
    try:
        chunked = array_metrics(a, b, rtol=rtol)
    finally:
        metrics.SMALL_ELEMENTS = saved
    _same(small, chunked)
