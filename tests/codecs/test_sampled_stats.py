"""Stats mode: exact min/max/NaN/Inf and hash, mean/std over a size-determined sample of large arrays,
and a diff that never mixes sampled and exact statistics into a false bound."""
import numpy as np
import pytest

import bmtrace
from bmtrace.codecs.stats import SAMPLED_ELEMENTS, describe_array, sampled_positions
from bmtrace.compare import Status, compare_records
from bmtrace.store import hashing


def test_large_arrays_get_exact_extremes_and_sampled_spread():
    img = np.random.default_rng(0).integers(0, 256, (1080, 1920, 3), dtype=np.uint8)
    img[700, 1900, 2] = 255
    img[3, 5, 0] = 0
    digest, stats = describe_array(img, sampled=True)
    assert digest == hashing.content_hash(img)
    assert (stats["min"], stats["max"], stats["nan_count"], stats["inf_count"]) == (0, 255, 0, 0)
    assert stats["stats_sample"] == SAMPLED_ELEMENTS
    sample = np.concatenate([img.reshape(-1)[s:s + 1024] for s in sampled_positions(img.size)]).astype(np.float64)
    assert stats["mean"] == pytest.approx(sample.mean(), rel=1e-12) and stats["std"] == pytest.approx(sample.std())
    assert stats["mean"] == pytest.approx(img.mean(), abs=1.5)  # a uniform image: the sample is representative


def test_small_arrays_and_nonfinite_values_stay_exact():
    small = np.arange(SAMPLED_ELEMENTS, dtype=np.float32)
    assert "stats_sample" not in describe_array(small, sampled=True)[1]
    big = np.ones(SAMPLED_ELEMENTS * 4, np.float32)
    big[12345] = np.nan
    stats = describe_array(big, sampled=True)[1]
    assert "stats_sample" not in stats and stats["nan_count"] == 1 and stats["mean"] == 1.0


@bmtrace.trace_stage("stage")
def stage(x):
    return x


def test_stats_mode_records_the_sample_full_mode_does_not(tmp_path):
    arr = np.linspace(0, 1, 500000, dtype=np.float32)
    with bmtrace.run(tmp_path / "stats", mode="stats"):
        stage(arr)
    with bmtrace.run(tmp_path / "full"):
        stage(arr)
    stats_out = bmtrace.open_run(tmp_path / "stats").calls()[0].output()
    full_out = bmtrace.open_run(tmp_path / "full").calls()[0].output()
    assert stats_out.stats_sample == SAMPLED_ELEMENTS and full_out.stats_sample is None
    assert full_out.mean == pytest.approx(float(arr.astype(np.float64).mean()), rel=1e-9)


def test_content_described_in_stats_mode_is_described_again_for_full_mode(tmp_path):
    """One process, a stats-mode stage then a full-mode stage on the same array: exact statistics."""
    arr = np.linspace(0, 1, 500000, dtype=np.float32)
    exact = bmtrace.trace_stage("exact", mode="full")(lambda x: x + 0)
    with bmtrace.run(tmp_path / "run", mode="stats"):
        exact(stage(arr))
    run = bmtrace.open_run(tmp_path / "run")
    assert run.calls(stage="stage")[0].output().stats_sample == SAMPLED_ELEMENTS
    assert run.calls(stage="exact")[0].input("x").stats_sample is None


def test_sampled_and_exact_statistics_are_not_compared(tmp_path):
    """A's exact mean counts a block the stats-mode sample skips; B differs from A by 0.5 there. The
    means differ by ~10, but that is the sample, not the data: no bound may come from it."""
    a = np.zeros(1 << 20, np.float32)
    a[2000:12000] = 1000.0  # between the first two sampled blocks
    b = a.copy()
    b[5000] -= 0.5  # min and max stay
    assert not any(s <= 5000 < s + 1024 for s in sampled_positions(a.size))
    with bmtrace.run(tmp_path / "a"):
        stage(a)
    with bmtrace.run(tmp_path / "b", mode="stats"):
        stage(b)
    ta = bmtrace.open_run(tmp_path / "a").calls()[0].output()
    tb = bmtrace.open_run(tmp_path / "b").calls()[0].output()
    assert abs(ta.mean - tb.mean) > 5
    result = compare_records(ta, tb)
    assert result.status == Status.UNVERIFIED
    assert not result.max_abs_diff  # only min and max bound it here, and they agree


def test_stats_mode_diff_still_sees_a_channel_swap_in_a_large_image(tmp_path):
    img = np.random.default_rng(1).integers(0, 256, (720, 1280, 3), dtype=np.uint8)
    with bmtrace.run(tmp_path / "a", mode="stats"):
        stage(img)
    with bmtrace.run(tmp_path / "b", mode="stats"):
        stage(np.ascontiguousarray(img[..., ::-1]))
    result = bmtrace.diff(tmp_path / "a", tmp_path / "b")
    assert result.verdict == "DIVERGED" and result.first_divergence.stage == "stage"
