"""Recorded statistics against numpy in float64, on every path the recorder takes: one element, a
small array in one piece, 1 MiB blocks split over threads, 8-bit rows with a ragged tail, NaN/Inf."""
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from bmtrace.codecs.stats import describe_array
from bmtrace.store import hashing

SIZES = (1, 2, 255, 4096, 4097, 70001, 1 << 20, (1 << 20) + 300)
DTYPES = ("uint8", "int8", "bool", "uint16", "int16", "int32", "int64", "float16", "float32", "float64")


def _array(dtype, size, seed):
    rng = np.random.default_rng(seed)
    if dtype == "bool":
        return rng.integers(0, 2, size).astype(bool)
    if np.dtype(dtype).kind in "iu":
        info = np.iinfo(dtype)
        low, high = (info.min, info.max) if info.bits <= 16 else (-10 ** 6, 10 ** 6)
        return rng.integers(low, high, size, endpoint=True).astype(dtype)
    return (rng.standard_normal(size) * 50 + 3).astype(dtype)


def _expected(arr):
    flat = arr.reshape(-1).astype(np.float64)
    finite = flat[np.isfinite(flat)]
    return {"min": finite.min(), "max": finite.max(), "mean": finite.mean(), "std": finite.std(),
            "nan_count": int(np.isnan(flat).sum()), "inf_count": int(np.isinf(flat).sum())}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("size", SIZES)
def test_statistics_follow_numpy(dtype, size):
    arr = _array(dtype, size, size)
    _, stats = describe_array(arr)
    want = _expected(arr)
    assert (stats["nan_count"], stats["inf_count"]) == (0, 0)
    assert stats["min"] == want["min"] and stats["max"] == want["max"]
    assert stats["mean"] == pytest.approx(want["mean"], rel=1e-9, abs=1e-9)
    assert stats["std"] == pytest.approx(want["std"], rel=1e-6, abs=1e-9)


@pytest.mark.parametrize("size", (1, 7, 4096, 5000, (1 << 18) + 3))
def test_nan_and_inf_are_counted_and_left_out(size):
    arr = _array("float32", size, 1)
    arr[::3] = np.nan
    if size > 1:
        arr[1::5] = -np.inf
    _, stats = describe_array(arr)
    want_nan, want_inf = int(np.isnan(arr).sum()), int(np.isinf(arr).sum())
    assert (stats["nan_count"], stats["inf_count"]) == (want_nan, want_inf)
    finite = arr[np.isfinite(arr)].astype(np.float64)
    if finite.size:
        assert stats["min"] == finite.min() and stats["max"] == finite.max()
        assert stats["mean"] == pytest.approx(finite.mean(), rel=1e-9)
    else:
        assert stats["min"] is None and stats["mean"] is None


def test_exact_byte_sums_on_a_constant_image():
    """8-bit rows: a full-scale image (largest row sums and squares) has std exactly 0."""
    _, stats = describe_array(np.full((1080, 1920, 3), 255, np.uint8))
    assert (stats["mean"], stats["std"], stats["min"], stats["max"]) == (255.0, 0.0, 255, 255)


@pytest.mark.parametrize("dtype", ("uint8", "float32"))
def test_threads_and_one_piece_agree(dtype):
    """The writer splits large arrays over a pool: same hash, same statistics."""
    arr = _array(dtype, (3 << 20) + 11, 5)
    with ThreadPoolExecutor(2) as pool:
        split = describe_array(arr, pool=pool, parts=2)
    whole = describe_array(arr)
    assert split[0] == whole[0] == hashing.content_hash(arr)
    for key, value in whole[1].items():
        assert split[1][key] == pytest.approx(value, rel=1e-12)


def test_known_hash_is_not_recomputed():
    arr = _array("float32", 10, 3)
    digest, _ = describe_array(arr, want_hash=False)
    assert digest is None
