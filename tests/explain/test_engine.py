"""explain_tensor_pair as the diff engine calls it: edge cases, budget, imports, JSON."""
import json
import logging
import subprocess
import sys

import numpy as np
import pytest

from bmtrace.explain import explain_stage_outputs, explain_tensor_pair

from .conftest import causes


def test_identical_pair_has_no_hint(photo_rgb):
    """An identical pair is not explained by anything."""
    assert explain_tensor_pair(photo_rgb, photo_rgb.copy(), stage="s", tensor="t") == []


def test_unrelated_tensors_have_no_hint():
    """Two independent random tensors get no hint at all."""
    rng = np.random.default_rng(0)
    a = rng.normal(size=(1, 3, 64, 64)).astype(np.float32)
    b = rng.normal(size=(1, 3, 64, 64)).astype(np.float32)
    assert explain_tensor_pair(a, b, stage="s", tensor="t") == []


@pytest.mark.parametrize("value", [np.array(["a", "b"]), np.array([object(), None]), np.zeros((0, 3))])
def test_non_numeric_or_empty_pairs_are_skipped(value):
    """Strings, objects and empty arrays return no hints instead of raising."""
    assert explain_tensor_pair(value, value, stage="s", tensor="t") == []


@pytest.mark.parametrize("a, b", [
    (np.full((4, 4, 3), 7, np.uint8), np.full((4, 4, 3), 8, np.uint8)),
    (np.ones((1, 3, 8, 8), np.float32), np.full((1, 8, 8, 3), 2, np.float32)),
    (np.array([1, 2, 3]), np.array([3, 2, 1])),
])
def test_constant_or_tiny_pairs_claim_no_cause(a, b):
    """Constant or 3-element data fit any scale/transpose/flip, so none of them is claimed."""
    assert explain_tensor_pair(a, b, stage="s", tensor="t") == []


def test_unrelated_shapes_have_no_hint():
    """Shapes that no transpose or reshape relates give no hint."""
    assert explain_tensor_pair(np.ones((4, 5)), np.ones((3, 7)), stage="s", tensor="t") == []


def test_nan_pixels_do_not_hide_a_channel_swap(photo_rgb):
    """A few NaNs (on both sides) still leave the channel swap diagnosable."""
    a = photo_rgb.astype(np.float32)
    a[:5] = np.nan
    hints = explain_tensor_pair(a, a[..., ::-1], stage="s", tensor="t")
    assert causes(hints) == ["channel_order"]


def test_hints_are_json_serialisable(photo_rgb, photo_bgr):
    """Every hint's to_json() passes json.dumps with allow_nan=False."""
    a = photo_rgb.transpose(2, 0, 1).astype(np.float32) / 255
    b = (photo_bgr.astype(np.float32) - 127.5) / 127.5
    hints = explain_tensor_pair(a, b, stage="s", tensor="t")
    assert hints
    json.dumps([h.to_json() for h in hints], allow_nan=False)


def test_huge_pair_is_explained_on_a_sample():
    """A 3x4000x4000 float32 pair (192 MB each) is diagnosed on a sample, not element by element."""
    rng = np.random.default_rng(0)
    a = rng.random((3, 4000, 4000), dtype=np.float32)
    b = a[::-1] * 2.0 + 0.5
    hints = explain_tensor_pair(a, b, stage="s", tensor="t", budget_s=0.5)
    assert hints and hints[0].cause == "channel_order"
    assert hints[0].details["sampled"] is True


def test_zero_budget_skips_the_remaining_diagnoses(photo_rgb, caplog):
    """budget_s=0 runs at most the first diagnosis and says which ones it skipped."""
    a = np.tile(photo_rgb, (2, 4, 1))
    with caplog.at_level(logging.INFO, logger="bmtrace.explain"):
        explain_tensor_pair(a, a[::-1], stage="s", tensor="t", budget_s=0)
    skipped = [r.getMessage() for r in caplog.records if "budget spent, skipped" in r.getMessage()]
    assert skipped and "padding" in skipped[0].split("skipped ")[1].split(", ")


def test_detection_arrays_of_different_length_get_thresholds_hint():
    """explain_tensor_pair on Nx6 detection arrays that differ by a low-score box says thresholds."""
    det_a = np.array([[10, 10, 50, 50, 0.9, 0], [100, 100, 150, 150, 0.8, 1], [12, 12, 52, 52, 0.21, 0]],
                     np.float32)
    hints = explain_tensor_pair(det_a, det_a[:2], stage="postprocess", tensor="out")
    assert causes(hints) == ["thresholds"]


def test_empty_stage_outputs_give_no_hint():
    """explain_stage_outputs with an empty side returns []."""
    assert explain_stage_outputs({}, {"x": np.ones(3)}, stage="s") == []


def test_import_pulls_in_no_optional_dependency():
    """Importing bmtrace.explain loads neither cv2, PIL nor torch (they load inside resize only)."""
    code = ("import sys, bmtrace.explain; "
            "print(sorted(m for m in ('cv2', 'PIL', 'torch', 'torchvision') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_a_failing_diagnosis_is_logged_not_raised(photo_rgb, monkeypatch, caplog):
    """If one diagnosis raises, explain_tensor_pair logs a warning and still returns the others."""
    from bmtrace.explain import padding

    def broken(*args, **kwargs):
        raise RuntimeError("boom")
    monkeypatch.setattr(padding, "diagnose", broken)
    noise = np.random.default_rng(0).integers(-3, 4, photo_rgb.shape)
    noisy = np.clip(photo_rgb + noise, 0, 255).astype(np.uint8)
    with caplog.at_level("WARNING", logger="bmtrace.explain"):
        hints = explain_tensor_pair(photo_rgb, noisy, stage="s", tensor="t")
    assert "padding" not in causes(hints)
    assert "padding diagnosis failed" in caplog.text
