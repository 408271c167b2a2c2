"""Metrics of one array pair, checked against values worked out by hand or by plain numpy."""
import math
import os
import signal

import numpy as np
import pytest

from bmtrace.compare import metrics
from bmtrace.compare.metrics import array_metrics, image_peak, psnr


def test_max_abs_diff_and_its_index():
    """The largest |a-b| and its flat position are reported."""
    a = np.array([[0.0, 1.0], [2.0, 3.0]], np.float32)
    b = np.array([[0.0, 1.5], [2.0, 1.0]], np.float32)
    m = array_metrics(a, b)
    assert m.max_abs_diff == pytest.approx(2.0)
    assert m.max_abs_index == 3


def test_mean_abs_diff_matches_numpy():
    """mean_abs_diff equals numpy's mean of |a-b| in float64."""
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=1000), rng.normal(size=1000)
    assert array_metrics(a, b).mean_abs_diff == pytest.approx(np.abs(a - b).mean(), rel=1e-12)


def test_max_rel_diff_ignores_zero_reference_elements():
    """Relative error is taken against |a| and skips elements where a == 0."""
    a = np.array([0.0, 2.0, 4.0])
    b = np.array([5.0, 3.0, 4.0])
    assert array_metrics(a, b).max_rel_diff == pytest.approx(0.5)


def test_cosine_of_orthogonal_and_parallel_vectors():
    """Cosine is 0 for orthogonal vectors and 1 for positive multiples."""
    assert array_metrics(np.array([1.0, 0.0]), np.array([0.0, 1.0])).cosine == pytest.approx(0.0)
    assert array_metrics(np.array([1.0, 2.0]), np.array([2.0, 4.0])).cosine == pytest.approx(1.0)


def test_cosine_of_two_zero_arrays_is_one():
    """Two all-zero arrays agree perfectly, so their cosine is 1."""
    assert array_metrics(np.zeros(4), np.zeros(4)).cosine == 1.0


def test_cosine_with_one_zero_side_is_zero():
    """A zero array against a non-zero one has no common direction."""
    assert array_metrics(np.zeros(4), np.ones(4)).cosine == 0.0


def test_equal_ratio_counts_exactly_equal_elements():
    """equal_ratio is the share of bit-equal elements."""
    a = np.arange(8, dtype=np.uint8)
    b = a.copy()
    b[[1, 5]] += 1
    assert array_metrics(a, b).equal_ratio == pytest.approx(6 / 8)


def test_min_atol_without_rtol_is_max_abs_diff():
    """With rtol=0, the smallest passing atol is the max abs diff."""
    a = np.array([1.0, 10.0])
    b = np.array([1.25, 10.5])
    assert array_metrics(a, b).min_atol == pytest.approx(0.5)


def test_min_atol_accounts_for_rtol():
    """With rtol, the smallest passing atol is max(|a-b| - rtol*|a|)."""
    a = np.array([1.0, 100.0])
    b = np.array([1.25, 100.5])
    # 0.25 - 0.01*1 = 0.24 ; 0.5 - 0.01*100 = -0.5
    assert array_metrics(a, b, rtol=0.01).min_atol == pytest.approx(0.24)


def test_nan_on_both_sides_counts_as_equal():
    """NaN at the same position in both arrays is equal, not a mismatch."""
    a = np.array([np.nan, 1.0])
    m = array_metrics(a, a.copy())
    assert m.nonfinite_mismatch == 0
    assert m.equal_ratio == 1.0


def test_nan_on_one_side_is_counted_and_excluded_from_metrics():
    """A one-sided NaN is counted; the finite metrics stay finite."""
    a = np.array([np.nan, 1.0, 2.0])
    b = np.array([0.0, 1.0, 2.5])
    m = array_metrics(a, b)
    assert m.nonfinite_mismatch == 1
    assert m.max_abs_diff == pytest.approx(0.5)
    assert m.max_abs_index == 2


def test_opposite_infinities_are_a_mismatch():
    """+Inf against -Inf is a non-finite mismatch; same-sign infinities are equal."""
    a = np.array([np.inf, np.inf])
    b = np.array([-np.inf, np.inf])
    m = array_metrics(a, b)
    assert m.nonfinite_mismatch == 1
    assert m.equal_ratio == pytest.approx(0.5)


@pytest.mark.parametrize("chunk", [1, 3, 7, 1 << 16])
def test_chunking_does_not_change_results(chunk):
    """Metrics are the same whatever the chunk size, including the argmax position."""
    rng = np.random.default_rng(1)
    a = rng.normal(size=(5, 11)).astype(np.float32)
    b = a + rng.normal(scale=1e-3, size=a.shape).astype(np.float32)
    b[3, 7] += 1.0
    b[0, 0] = np.nan
    m = array_metrics(a, b, chunk=chunk)
    d = np.abs(a.astype(np.float64) - b.astype(np.float64))
    d[0, 0] = 0
    assert m.max_abs_index == 3 * 11 + 7
    assert m.max_abs_diff == pytest.approx(d.max())
    assert m.mean_abs_diff == pytest.approx(d.reshape(-1)[1:].mean())
    assert m.nonfinite_mismatch == 1


def test_mixed_dtypes_compare_in_float64():
    """uint8 against float32 holding the same numbers differs by nothing."""
    a = np.array([0, 128, 255], np.uint8)
    m = array_metrics(a, a.astype(np.float32))
    assert m.max_abs_diff == 0.0
    assert m.equal_ratio == 1.0


def test_uint8_subtraction_does_not_wrap():
    """0 - 255 in uint8 would wrap to 1; the metric must see 255."""
    m = array_metrics(np.array([0], np.uint8), np.array([255], np.uint8))
    assert m.max_abs_diff == 255.0


def test_empty_arrays_have_neutral_metrics():
    """Empty arrays compare as equal, without errors."""
    m = array_metrics(np.zeros((0, 3)), np.zeros((0, 3)))
    assert m.equal_ratio == 1.0 and m.max_abs_diff == 0.0


def test_shape_mismatch_raises():
    """array_metrics is for equal shapes only; the ladder handles mismatches."""
    with pytest.raises(ValueError):
        array_metrics(np.zeros(3), np.zeros(4))


def test_psnr_of_one_lsb_error_everywhere():
    """MSE 1 on 8-bit data is 20*log10(255) dB."""
    assert psnr(1.0, 255.0) == pytest.approx(20 * math.log10(255))


def test_psnr_of_identical_images_is_none():
    """Zero MSE has no finite PSNR."""
    assert psnr(0.0, 255.0) is None


def test_image_peak_for_unit_range_floats():
    """Float images in [0, 1] use peak 1; 8-bit data uses 255."""
    assert image_peak(np.array([0.2, 0.9]), np.array([0.1, 1.0])) == 1.0
    assert image_peak(np.array([3], np.uint8), np.array([3.0])) == 255.0


def test_float32_work_dtype_keeps_cosine_precise():
    """float32 arrays (swept in float32) give 1 - cosine within 1e-6 of a float64 reference."""
    rng = np.random.default_rng(5)
    a = rng.normal(size=200_000).astype(np.float32)
    b = (a + rng.normal(scale=1e-3, size=a.size)).astype(np.float32)
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    reference = float(a64 @ b64 / np.sqrt((a64 @ a64) * (b64 @ b64)))
    m = array_metrics(a, b)
    assert abs(m.cosine - reference) < 1e-6
    assert m.mean_abs_diff == pytest.approx(np.abs(a64 - b64).mean(), rel=1e-5)


def test_int32_values_above_float32_precision_are_compared_exactly():
    """Integers beyond 2**24 are swept in float64, so a difference of one is seen."""
    a = np.array([2**24 + 1, 5], np.int32)
    b = np.array([2**24, 5], np.int32)
    assert array_metrics(a, b).max_abs_diff == 1.0


def test_relative_diff_with_zero_reference_and_nonzero_difference():
    """A zero in A with a different B is left out of max_rel_diff, not reported as infinite."""
    a = np.array([0.0, 4.0], np.float32)
    b = np.array([1.0, 5.0], np.float32)
    assert array_metrics(a, b).max_rel_diff == pytest.approx(0.25)


def test_cosine_of_tiny_values_is_not_a_division_by_zero():
    """x.x * y.y underflows to 0 for values around 1e-155: the norms are taken one at a time."""
    a, b = np.array([1.2e-155, 3e-156]), np.array([1.2e-155, -3e-156])
    m = array_metrics(a, b)
    assert 0.0 < m.cosine < 1.0


def test_an_overflowed_float32_sum_gives_no_cosine_not_one(monkeypatch):
    """The numpy sweep sums float32 products in float32: past 1e19 they overflow. Opposite vectors then
    got cosine 1.0 (NaN clamped); now no cosine, and the pair is not similar."""
    from bmtrace.compare.pairs import compare_arrays

    a = np.array([2e19, 1.0] * 8, np.float32)
    b = np.array([-2e19, 1.0] * 8, np.float32)
    monkeypatch.setattr(metrics, "_fused_sweep", None)  # the numpy sweep
    assert array_metrics(a, b).cosine is None
    assert compare_arrays(a, b).status == "diverged"


def test_sketch_cosine_of_tiny_values_is_not_a_division_by_zero():
    from bmtrace.compare.sketches import SketchEvidence, _value_figures

    ev = SketchEvidence()
    _value_figures([ev], np.array([[1.2e-155, 3e-156] * 4]), np.array([[1.2e-155, -3e-156] * 4]), None, 0.0)
    assert 0.0 < ev.cosine < 1.0



@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_forked_child_measures_with_a_pool_of_its_own():
    """The parent's pool thread does not exist in a fork: work handed to that pool would wait forever
    (a long stats-mode diff forks children, bmtrace.diff.workers)."""
    from bmtrace.compare import metrics

    a = np.random.default_rng(0).standard_normal(metrics.PARALLEL_ELEMENTS * 2).astype(np.float32)
    b = a + np.float32(1e-3)
    expected = metrics.array_metrics(a, b, threads=2)  # the parent's pool now exists
    assert metrics._executor is not None
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            signal.alarm(20)  # a child stuck on the parent's pool dies here
            got = metrics.array_metrics(a, b, threads=2)
            code = 0 if got.max_abs_diff == expected.max_abs_diff else 2
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
