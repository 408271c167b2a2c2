"""find_mapping: B is exactly A under a representation change (BGR, transpose, x255, widening), or None."""
import json

import numpy as np
import pytest

from bmtrace.compare.representation import Mapping, find_mapping

cv2 = pytest.importorskip("cv2")
Image = pytest.importorskip("PIL.Image")
torch = pytest.importorskip("torch")
tf = pytest.importorskip("torchvision.transforms.functional")


def test_pil_rgb_vs_cv2_bgr_is_channel_reversal(photo_rgb, photo_bgr):
    """The same JPEG decoded by PIL and cv2: B is BGR, and apply(A) reproduces B exactly."""
    m = find_mapping(photo_rgb, photo_bgr, {"color": "RGB"}, {"color": "BGR"})
    assert m is not None and m.channels_reversed and m.perm is None and m.scale == 1.0
    assert m.describe() == "B is BGR"
    assert np.array_equal(m.apply(photo_rgb), photo_bgr)


def test_torch_permute_is_chw(photo_rgb):
    """torch permute(2, 0, 1) of an HWC image: B is CHW."""
    chw = torch.from_numpy(photo_rgb.copy()).permute(2, 0, 1).numpy()
    m = find_mapping(photo_rgb, chw)
    assert m.perm == (2, 0, 1) and m.describe() == "B is CHW"
    assert np.array_equal(m.apply(photo_rgb), chw)


def test_batch_dim_added_with_transpose(photo_rgb):
    """HWC image vs the port's (1, 3, H, W) batch: a transpose plus a size-1 axis, named NCHW."""
    nchw = np.ascontiguousarray(photo_rgb.transpose(2, 0, 1)[None])
    m = find_mapping(photo_rgb, nchw)
    assert m.describe() == "B is NCHW"
    assert m.apply(photo_rgb).shape == nchw.shape
    assert np.array_equal(m.apply(photo_rgb), nchw)


def test_batch_dim_only(photo_rgb):
    """(H, W, 3) vs (1, H, W, 3) with the same values: a size-1 axis added."""
    m = find_mapping(photo_rgb, photo_rgb[None])
    assert m is not None and m.causes() == ["layout"] and "adds a size-1 axis" in m.describe()


def test_to_tensor_vs_raw_pixels_is_scale_255(photo_rgb):
    """torchvision ToTensor (CHW 0..1) vs the raw HWC uint8 image: B is HWC and B = A*255."""
    a = tf.to_tensor(photo_rgb).numpy()
    m = find_mapping(a, photo_rgb)
    assert m.scale == 255.0 and m.perm is not None
    assert m.describe() == "B is HWC, B = A*255, B is uint8"
    assert np.array_equal(m.apply(a), photo_rgb)


def test_raw_vs_divided_by_255(photo_bgr):
    """cv2 image vs the port's float32 img / 255: B = A/255, within float32 rounding."""
    b = photo_bgr.astype(np.float32) / 255
    m = find_mapping(photo_bgr, b)
    assert m.scale == pytest.approx(1 / 255) and "B = A/255" in m.describe()
    assert np.allclose(m.apply(photo_bgr), b, rtol=1e-6, atol=0)


def test_uint8_widened_to_float32(photo_bgr):
    """astype(float32) of the same pixels is a dtype widening only."""
    m = find_mapping(photo_bgr, photo_bgr.astype(np.float32))
    assert m.describe() == "B is float32" and m.causes() == []


def test_bgr_chw_and_scale_combined(photo_rgb, photo_bgr):
    """PIL RGB HWC uint8 vs the port's cv2 BGR, CHW, float32 /255 tensor: all three named."""
    b = np.ascontiguousarray(photo_bgr.transpose(2, 0, 1)).astype(np.float32) / 255
    m = find_mapping(photo_rgb, b, {"color": "RGB"}, {"color": "BGR"})
    assert m.describe() == "B is BGR, B is CHW, B = A/255, B is float32"
    assert sorted(m.causes()) == ["channel_order", "layout", "value_scale"]


def test_cv2_vs_pil_resize_is_no_mapping(photo_rgb):
    """A real resize difference (PIL bilinear vs cv2 INTER_LINEAR) is never a representation."""
    a = np.asarray(Image.fromarray(photo_rgb).resize((224, 224), Image.BILINEAR))
    b = cv2.resize(photo_rgb, (224, 224))
    assert find_mapping(a, b) is None
    assert find_mapping(a, b[..., ::-1]) is None


def test_noise_is_no_mapping(photo_rgb):
    """One changed pixel level breaks an otherwise exact channel reversal: no mapping."""
    b = photo_rgb[..., ::-1].copy()
    b[100, 100, 0] ^= 1
    assert find_mapping(photo_rgb, b) is None


def test_scale_off_by_more_than_rounding_is_no_mapping(photo_bgr):
    """x/255 plus 1e-4 is not B = A/255: the scale must hold within float rounding."""
    b = photo_bgr.astype(np.float32) / 255 + np.float32(1e-4)
    assert find_mapping(photo_bgr, b) is None


def test_reshape_instead_of_transpose_is_no_mapping(photo_rgb):
    """HWC bytes reshaped to (1, 3, H, W) scramble the elements: that is the layout bug, not a mapping."""
    h, w, _ = photo_rgb.shape
    assert find_mapping(photo_rgb, photo_rgb.reshape(1, 3, h, w)) is None


def test_identical_tensors_have_no_mapping(photo_rgb):
    """B equal to A needs no representation change."""
    assert find_mapping(photo_rgb, photo_rgb.copy()) is None


def test_carried_mapping_explains_the_next_stage(photo_rgb, photo_bgr):
    """'B is BGR' found at decode still explains both sides after the same cv2 resize."""
    m = find_mapping(photo_rgb, photo_bgr)
    ra, rb = cv2.resize(photo_rgb, (200, 150)), cv2.resize(photo_bgr, (200, 150))
    assert m.explains(ra, rb)
    assert find_mapping(ra, rb, prefer=m) == m
    rb_converted = cv2.cvtColor(rb, cv2.COLOR_BGR2RGB)
    assert not m.explains(ra, rb_converted)  # the mapping ends where B converts


def test_compose_and_equality(photo_rgb, photo_bgr):
    """Reversing twice composes to identity; a transpose then a reversal equals the direct mapping."""
    rev = find_mapping(photo_rgb, photo_bgr)
    assert rev.compose(rev).is_identity()
    chw_bgr = np.ascontiguousarray(photo_bgr.transpose(2, 0, 1))
    direct = find_mapping(photo_rgb, chw_bgr)
    to_chw = find_mapping(photo_rgb, np.ascontiguousarray(photo_rgb.transpose(2, 0, 1)))
    then_rev = find_mapping(np.ascontiguousarray(photo_rgb.transpose(2, 0, 1)), chw_bgr)
    assert to_chw.compose(then_rev) == direct


def test_json_round_trip(photo_rgb, photo_bgr):
    """to_json survives json.dumps and from_json rebuilds an equal mapping."""
    b = np.ascontiguousarray(photo_bgr.transpose(2, 0, 1)).astype(np.float32) / 255
    m = find_mapping(photo_rgb, b)
    doc = json.loads(json.dumps(m.to_json(), allow_nan=False))
    assert Mapping.from_json(doc) == m and doc["describe"] == m.describe()
