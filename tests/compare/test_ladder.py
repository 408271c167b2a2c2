"""The metric ladder EQUAL -> CLOSE -> SIMILAR -> DIVERGED, and structural outcomes."""
import numpy as np
import pytest

from bmtrace.compare import Status, Tolerance, ToleranceRules, compare_arrays


def test_bit_identical_arrays_are_equal():
    """Same dtype, shape and bytes is EQUAL and passes."""
    a = np.arange(12, dtype=np.float32).reshape(3, 4)
    r = compare_arrays(a, a.copy())
    assert r.status == Status.EQUAL
    assert r


def test_float_difference_within_default_atol_is_close():
    """Float tensors pass with max abs diff <= 1e-3 by default."""
    a = np.zeros(10, np.float32)
    r = compare_arrays(a, a + np.float32(0.0009))
    assert r.status == Status.CLOSE
    assert r


def test_float_difference_above_default_atol_but_parallel_is_similar():
    """Beyond atol but cosine >= 0.99 is SIMILAR, reported and not passed."""
    a = np.linspace(1, 2, 100, dtype=np.float32)
    r = compare_arrays(a, a * np.float32(1.01))
    assert r.status == Status.SIMILAR
    assert not r


def test_unrelated_values_are_diverged():
    """Independent noise has low cosine and is DIVERGED."""
    rng = np.random.default_rng(0)
    r = compare_arrays(rng.normal(size=1000), rng.normal(size=1000))
    assert r.status == Status.DIVERGED


def test_integers_must_be_equal_by_default():
    """A one-LSB difference in a uint8 image is not CLOSE under the default rules."""
    a = np.full((4, 4, 3), 100, np.uint8)
    b = a.copy()
    b[0, 0, 0] = 101
    assert compare_arrays(a, b).status != Status.CLOSE
    assert not compare_arrays(a, b)


def test_stage_override_allows_one_lsb_on_integers():
    """`resize=1` lets a uint8 stage pass with a one-LSB difference."""
    a = np.full((4, 4, 3), 100, np.uint8)
    b = a.copy()
    b[0, 0, 0] = 101
    rules = ToleranceRules(overrides={"resize": 1})
    assert compare_arrays(a, b, stage="resize", rules=rules).status == Status.CLOSE
    assert compare_arrays(a, b, stage="crop", rules=rules).status != Status.CLOSE


def test_explicit_tolerance_wins_over_rules():
    """A resolved Tolerance passed in is used as is."""
    a = np.zeros(3)
    r = compare_arrays(a, a + 0.5, tol=Tolerance(atol=1.0))
    assert r.status == Status.CLOSE


def test_rtol_widens_tolerance_for_large_values():
    """|a-b| <= atol + rtol*|a| is the CLOSE criterion."""
    a = np.array([1000.0, 2000.0])
    b = a + 1.5
    assert compare_arrays(a, b, tol=Tolerance(atol=1e-3, rtol=2e-3)).status == Status.CLOSE
    assert compare_arrays(a, b, tol=Tolerance(atol=1e-3, rtol=0)).status != Status.CLOSE


def test_nan_on_one_side_diverges_even_if_the_rest_matches():
    """NaN on one side only is a divergence, not a skipped element."""
    a = np.ones(100)
    b = a.copy()
    b[50] = np.nan
    r = compare_arrays(a, b)
    assert r.status == Status.DIVERGED
    assert r.nonfinite_mismatch == 1


def test_nan_at_same_positions_is_equal():
    """Matching NaNs do not fail a comparison."""
    a = np.array([1.0, np.nan, 3.0])
    assert compare_arrays(a, a.copy()).status == Status.EQUAL


def test_shape_mismatch_is_a_result_not_an_exception():
    """Different shapes give SHAPE_MISMATCH with both shapes recorded."""
    r = compare_arrays(np.zeros((2, 3)), np.zeros((3, 3)))
    assert r.status == Status.SHAPE_MISMATCH
    assert (r.shape_a, r.shape_b) == ((2, 3), (3, 3))
    assert not r


def test_transposed_layout_is_a_shape_mismatch_with_a_hint():
    """HWC against CHW of the same size is flagged, with a note about layout."""
    r = compare_arrays(np.zeros((4, 5, 3)), np.zeros((3, 4, 5)))
    assert r.status == Status.SHAPE_MISMATCH
    assert any("layout" in n for n in r.notes)


@pytest.mark.parametrize("side", ["a", "b"])
def test_leading_batch_dimension_of_one_is_squeezed(side):
    """(1, C, H, W) against (C, H, W) compares the values and notes the squeeze."""
    x = np.random.default_rng(2).random((3, 4, 5)).astype(np.float32)
    a, b = (x[None], x) if side == "a" else (x, x[None])
    r = compare_arrays(a, b)
    assert r.status == Status.EQUAL
    assert any("batch" in n for n in r.notes)


def test_batch_of_two_is_not_squeezed():
    """Only a batch dimension of exactly 1 may be dropped."""
    x = np.zeros((3, 4))
    assert compare_arrays(np.stack([x, x]), x).status == Status.SHAPE_MISMATCH


def test_uint8_against_float_compares_values_and_notes_dtypes():
    """uint8 vs float32 with the same values passes as CLOSE (not EQUAL) with a note."""
    a = np.array([[0, 7], [200, 255]], np.uint8)
    r = compare_arrays(a, a.astype(np.float32))
    assert r.status == Status.CLOSE
    assert any("float64" in n for n in r.notes)


def test_uint8_against_float_uses_float_tolerance():
    """With a float side, the float atol applies (0.0005 off is CLOSE)."""
    a = np.array([10, 20], np.uint8)
    r = compare_arrays(a, a.astype(np.float32) + np.float32(0.0005))
    assert r.status == Status.CLOSE


def test_psnr_reported_for_uint8_images():
    """Image-like tensors get a PSNR; here one pixel off by 255 in 100x100."""
    a = np.zeros((100, 100), np.uint8)
    b = a.copy()
    b[0, 0] = 255
    r = compare_arrays(a, b)
    # MSE = 255**2 / 10000, so PSNR = 10*log10(10000) = 40 dB
    assert r.psnr == pytest.approx(40.0)


def test_psnr_absent_for_plain_feature_vectors():
    """A float vector with no image metadata gets no PSNR."""
    r = compare_arrays(np.zeros(10, np.float32), np.ones(10, np.float32))
    assert r.psnr is None


def test_psnr_for_float_tensor_with_layout_metadata():
    """Recorded layout metadata marks a float tensor as an image."""
    a = np.zeros((3, 8, 8), np.float32)
    r = compare_arrays(a, a + np.float32(0.1), meta_a={"layout": "CHW"})
    assert r.psnr is not None


def test_max_abs_index_is_unravelled_to_the_shape():
    """The worst element's position is reported as an index tuple."""
    a = np.zeros((2, 3, 4), np.float32)
    b = a.copy()
    b[1, 2, 3] = 5
    assert compare_arrays(a, b).max_abs_index == (1, 2, 3)


def test_string_arrays_compare_for_equality():
    """Non-numeric arrays are EQUAL or DIVERGED, nothing in between."""
    assert compare_arrays(np.array(["cat", "dog"]), np.array(["cat", "dog"])).status == Status.EQUAL
    assert compare_arrays(np.array(["cat", "dog"]), np.array(["cat", "cow"])).status == Status.DIVERGED


def test_json_has_the_contract_keys():
    """A tensor entry carries every key the issue lists, with JSON types."""
    r = compare_arrays(np.zeros((1, 2), np.float32), np.ones((1, 2), np.float64)).to_json()
    for key in ("name", "status", "max_abs_diff", "mean_abs_diff", "cosine", "equal_ratio",
                "shape_a", "shape_b", "dtype_a", "dtype_b"):
        assert key in r
    assert r["shape_a"] == [1, 2] and r["dtype_b"] == "float64"
    assert isinstance(r["max_abs_diff"], float)
