"""Converting a recorded value to the receiving side's type and layout, or refusing to."""
import numpy as np
import pytest
import torch
from PIL import Image

from bmtrace.errors import UsageError
from bmtrace.replayer.substitute import SubstitutionRefused, convert, load_plan, make_plan, write_plan


def test_numpy_to_torch_keeps_the_receiving_dtype():
    """A float64 array fed to a float32 torch tensor comes out a float32 tensor, and the note says so."""
    value, note = convert(np.arange(6, dtype=np.float64).reshape(2, 3), {}, torch.zeros(2, 3))
    assert isinstance(value, torch.Tensor) and value.dtype == torch.float32
    assert value[1, 2].item() == 5.0
    assert "float64 to float32" in note and "torch" in note


def test_torch_batch_of_one_to_numpy_drops_the_batch_dim():
    """A (1, C, H, W) tensor fed to a (C, H, W) array loses its batch dim of 1, noted."""
    value, note = convert(torch.ones(1, 3, 2, 2), {}, np.zeros((3, 2, 2), np.float32))
    assert isinstance(value, np.ndarray) and value.shape == (3, 2, 2)
    assert "batch dim of 1 removed" in note


def test_float_array_to_pil_image_rounds_to_uint8():
    """A float array fed to a PIL image is rounded, clipped and rebuilt in the image's mode."""
    own = Image.new("RGB", (2, 2))
    value, note = convert(np.full((2, 2, 3), 300.4), {}, own)
    assert isinstance(value, Image.Image) and value.mode == "RGB"
    assert np.asarray(value).max() == 255
    assert "rounded and clipped" in note


def test_declared_hwc_layout_is_transposed_to_chw():
    """An array declared HWC fed to a CHW-shaped value is transposed, not reshaped."""
    hwc = np.arange(24).reshape(2, 4, 3)
    value, note = convert(hwc, {"layout": "HWC"}, np.zeros((3, 2, 4), hwc.dtype))
    np.testing.assert_array_equal(value, hwc.transpose(2, 0, 1))
    assert note == "HWC to CHW"


def test_undeclared_shape_change_is_refused():
    """Without a declared layout, a different shape is ambiguous and refused with both shapes named."""
    with pytest.raises(SubstitutionRefused, match=r"\[2, 4, 3\].*\[3, 2, 4\]"):
        convert(np.zeros((2, 4, 3)), {}, np.zeros((3, 2, 4)))


def test_sail_bmimage_is_refused():
    """A sail BMImage (fake) cannot be built off the device: refused, naming the type."""
    import fake_sail as sail

    own = sail.BMImage(np.zeros((2, 2, 3), np.uint8))
    with pytest.raises(SubstitutionRefused, match="sail BMImage"):
        convert(np.zeros((2, 2, 3), np.uint8), {}, own)


def test_plan_file_round_trips(tmp_path):
    """A written plan loads back equal, with the source made absolute."""
    plan = make_plan("runs/a", "resize", "inputs", tensors=["img"], samples=["x.jpg"])
    assert load_plan(write_plan(plan, str(tmp_path / "plan.json"))) == plan
    assert plan["source"].endswith("runs/a") and plan["source"].startswith("/")


def test_plan_with_a_bad_role_is_a_usage_error(tmp_path):
    """A plan whose role is neither inputs nor outputs is a UsageError naming both."""
    path = tmp_path / "plan.json"
    path.write_text('{"format": "bmtrace-substitution", "source": "a", "stage": "s", "role": "middle"}')
    with pytest.raises(UsageError, match="inputs, outputs"):
        load_plan(str(path))
