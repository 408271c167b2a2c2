"""The chunked metric pass against a plain float64 numpy computation of every figure.

Random float32, uint8 and int16 pairs (and a mixed pair), NaN and Inf included, in shapes whose sizes
span several chunks and end mid-chunk. Figures agree to float32 rounding; counts exactly.
"""
import math
import zlib

import numpy as np
import pytest

from bmtrace.compare.metrics import CHUNK_ELEMENTS, array_metrics


def reference(a, b, rtol):
    """Every ArrayMetrics figure, straight from the definitions, in float64 over whole arrays."""
    x, y = a.astype(np.float64).reshape(-1), b.astype(np.float64).reshape(-1)
    with np.errstate(invalid="ignore"):
        return _reference(x, y, rtol)


def _reference(x, y, rtol):
    finite = np.isfinite(x) & np.isfinite(y)
    same_nonfinite = (x == y) | (np.isnan(x) & np.isnan(y))
    xf, yf = x[finite], y[finite]
    d = np.abs(xf - yf)
    xx, yy, xy, sse = float(xf @ xf), float(yf @ yf), float(xf @ yf), float(d @ d)
    if xx == 0 and yy == 0:
        cosine = 1.0
    elif xx == 0 or yy == 0:
        cosine = 0.0
    else:
        cosine = max(-1.0, min(1.0, xy / math.sqrt(xx * yy)))
    nonzero = xf != 0
    return {
        "max_abs_diff": float(d.max()) if d.size else 0.0,
        "mean_abs_diff": float(d.mean()) if d.size else 0.0,
        "mse": sse / d.size if d.size else 0.0,
        "cosine": cosine,
        "max_rel_diff": float((d[nonzero] / np.abs(xf[nonzero])).max()) if nonzero.any() else 0.0,
        "min_atol": max(0.0, float((d - rtol * np.abs(xf)).max())) if d.size else 0.0,
        "equal_ratio": (int(np.count_nonzero(d == 0)) + int(np.count_nonzero(same_nonfinite & ~finite))) / x.size,
        "nonfinite_mismatch": int(np.count_nonzero(~finite & ~same_nonfinite)),
        "d": np.where(finite, np.abs(np.where(finite, x - y, 0.0)), -1.0),
    }


def _pair(rng, dtype, shape):
    size = int(np.prod(shape))
    if dtype == np.uint8:
        a = rng.integers(0, 256, size).astype(np.uint8)
        b = np.clip(a.astype(np.int16) + rng.integers(-2, 3, size), 0, 255).astype(np.uint8)
    elif dtype == np.int16:
        a = rng.integers(-32768, 32768, size).astype(np.int16)
        b = a.copy()
        flip = rng.random(size) < 0.3
        b[flip] = rng.integers(-32768, 32768, int(flip.sum())).astype(np.int16)
    else:
        a = (rng.standard_normal(size) * 10).astype(np.float32)
        b = a + (rng.standard_normal(size) * 1e-2).astype(np.float32)
        b[::7] = a[::7]  # some exact matches
        for arr in (a, b):  # NaN and Inf, some on both sides at the same place
            arr[rng.integers(0, size, 5)] = np.nan
            arr[rng.integers(0, size, 3)] = np.inf
            arr[rng.integers(0, size, 3)] = -np.inf
        both = rng.integers(0, size, 4)
        a[both], b[both] = np.nan, np.nan
        a[0] = 0.0  # a zero reference: left out of the relative difference
    return a.reshape(shape), b.reshape(shape)


SHAPES = [(7,), (3, 1000), (2, 3, 777), (CHUNK_ELEMENTS * 2 + 13,)]


@pytest.mark.parametrize("dtype", [np.float32, np.uint8, np.int16])
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("chunk", [1000, CHUNK_ELEMENTS])
@pytest.mark.parametrize("rtol", [0.0, 1e-3])
def test_chunked_metrics_match_float64_reference(dtype, shape, chunk, rtol):
    rng = np.random.default_rng(zlib.crc32(repr((np.dtype(dtype).str, shape, chunk)).encode()))
    a, b = _pair(rng, dtype, shape)
    m = array_metrics(a, b, rtol=rtol, chunk=chunk)
    ref = reference(a, b, rtol)
    assert m.size == a.size
    assert m.nonfinite_mismatch == ref["nonfinite_mismatch"]
    assert m.equal_ratio == pytest.approx(ref["equal_ratio"], abs=0, rel=1e-12)
    for key in ("max_abs_diff", "mean_abs_diff", "mse", "max_rel_diff", "min_atol"):
        assert getattr(m, key) == pytest.approx(ref[key], rel=2e-5, abs=1e-9), key
    assert m.cosine == pytest.approx(ref["cosine"], abs=1e-5)
    # The reported position holds the largest difference (ties and float32 rounding may pick another
    # element of the same size).
    if (ref["d"] >= 0).any():
        assert ref["d"][m.max_abs_index] == pytest.approx(ref["max_abs_diff"], rel=2e-5, abs=1e-9)


def test_mixed_dtypes_match_reference():
    rng = np.random.default_rng(3)
    a = rng.integers(0, 256, (5, 3001)).astype(np.uint8)
    b = a.astype(np.float32) + rng.standard_normal(a.shape).astype(np.float32)
    m, ref = array_metrics(a, b, chunk=4096), reference(a, b, 0.0)
    for key in ("max_abs_diff", "mean_abs_diff", "mse", "max_rel_diff", "min_atol", "cosine"):
        assert getattr(m, key) == pytest.approx(ref[key], rel=1e-12, abs=1e-12), key


def test_identical_and_all_zero_pairs():
    z = np.zeros(CHUNK_ELEMENTS + 5, np.float32)
    m = array_metrics(z, z.copy())
    assert (m.max_abs_diff, m.cosine, m.equal_ratio, m.max_rel_diff) == (0.0, 1.0, 1.0, 0.0)
    x = np.arange(CHUNK_ELEMENTS * 3, dtype=np.float32)
    m = array_metrics(x, x.copy())
    assert (m.max_abs_diff, m.mean_abs_diff, m.equal_ratio) == (0.0, 0.0, 1.0)
    assert m.cosine == pytest.approx(1.0, abs=1e-7)
