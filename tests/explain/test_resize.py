"""resize_method: which resize implementation reproduces each side's output from its input."""
import numpy as np
import pytest

from bmtrace.errors import MissingDependencyError
from bmtrace.explain import explain_tensor_pair, resize

from .conftest import causes

cv2 = pytest.importorskip("cv2")
Image = pytest.importorskip("PIL.Image")
torch = pytest.importorskip("torch")
transforms = pytest.importorskip("torchvision.transforms")
tf = pytest.importorskip("torchvision.transforms.functional")

SIZE = (224, 224)


def _resize_hints(a, b, input_a, input_b, **kw):
    hints = explain_tensor_pair(a, b, stage="resize", tensor="out", inputs_a={"img": input_a},
                                inputs_b={"img": input_b}, budget_s=5.0, **kw)
    return [h for h in hints if h.cause == "resize_method"]


def test_torchvision_resize_on_pil_vs_cv2_linear(photo_rgb):
    """The vendor guide's case: transforms.Resize on a PIL image vs cv2.resize names PIL and cv2."""
    a = np.asarray(transforms.Resize(SIZE)(Image.fromarray(photo_rgb)))
    b = cv2.resize(photo_rgb, SIZE[::-1])
    hints = _resize_hints(a, b, photo_rgb, photo_rgb)
    assert len(hints) == 1
    assert "A matches PIL bilinear (antialias)" in hints[0].message
    assert "B matches cv2 INTER_LINEAR" in hints[0].message
    assert hints[0].residual == 0.0
    assert hints[0].details["before_max_abs"] > 50


def test_tensor_resize_antialias_on_vs_off(photo_rgb):
    """torchvision tensor Resize antialias=True vs antialias=False are told apart (CHW uint8)."""
    chw = torch.from_numpy(photo_rgb.transpose(2, 0, 1).copy())
    a = tf.resize(chw, list(SIZE), antialias=True).numpy()
    b = tf.resize(chw, list(SIZE), antialias=False).numpy()
    hints = _resize_hints(a, b, chw.numpy(), chw.numpy())
    assert len(hints) == 1
    details = hints[0].details
    assert details["a_method"] == "torchvision Resize bilinear antialias=True"
    assert details["b_method"] == "torchvision Resize bilinear antialias=False"


def test_port_using_bmcv_default_nearest(photo_bgr):
    """cv2 INTER_LINEAR (A) vs nearest (B) names nearest and points at bmcv's default."""
    a = cv2.resize(photo_bgr, SIZE[::-1], interpolation=cv2.INTER_LINEAR)
    b = cv2.resize(photo_bgr, SIZE[::-1], interpolation=cv2.INTER_NEAREST)
    hints = _resize_hints(a, b, photo_bgr, photo_bgr)
    assert hints[0].details["a_method"] == "cv2 INTER_LINEAR"
    assert "NEAREST" in hints[0].details["b_method"]
    assert "BMCV_INTER_NEAREST" in hints[0].message


def test_float_outputs_of_area_vs_cubic(photo_bgr):
    """float32 resizes (cv2 INTER_AREA vs INTER_CUBIC) are matched on float outputs too."""
    img = photo_bgr.astype(np.float32) / 255
    a = cv2.resize(img, (160, 200), interpolation=cv2.INTER_AREA)
    b = cv2.resize(img, (160, 200), interpolation=cv2.INTER_CUBIC)
    hints = _resize_hints(a, b, img, img)
    assert hints[0].details["a_method"] == "cv2 INTER_AREA"
    assert hints[0].details["b_method"] in ("cv2 INTER_CUBIC", "torchvision Resize bicubic antialias=False")


def test_same_method_with_noise_on_both_sides_is_silent(photo_bgr):
    """Identical-method resizes plus independent noise produce no resize_method hint."""
    rng = np.random.default_rng(1)
    base = cv2.resize(photo_bgr, SIZE[::-1]).astype(np.int16)
    noisy = [np.clip(base + rng.normal(0, 2, base.shape), 0, 255).astype(np.uint8) for _ in range(2)]
    assert _resize_hints(noisy[0], noisy[1], photo_bgr, photo_bgr) == []


def test_same_method_with_noise_on_one_side_is_silent(photo_bgr):
    """A clean cv2 resize vs the same resize with noise added is not a resize_method difference."""
    rng = np.random.default_rng(2)
    a = cv2.resize(photo_bgr, SIZE[::-1])
    b = np.clip(a + rng.normal(0, 3, a.shape), 0, 255).astype(np.uint8)
    assert _resize_hints(a, b, photo_bgr, photo_bgr) == []


def test_no_input_image_means_no_resize_hint(photo_rgb):
    """Without the stage's input image the diagnosis stays silent."""
    a = np.asarray(Image.fromarray(photo_rgb).resize(SIZE[::-1], Image.BILINEAR))
    b = cv2.resize(photo_rgb, SIZE[::-1])
    hints = explain_tensor_pair(a, b, stage="resize", tensor="out")
    assert "resize_method" not in causes(hints)


def test_missing_imaging_libraries_skip_the_diagnosis(photo_rgb, monkeypatch):
    """If cv2/PIL/torchvision are not installed the diagnosis is skipped, without error or hint."""
    def missing(module, **kw):
        raise MissingDependencyError(module, "imaging", "the resize_method diagnosis")
    monkeypatch.setattr(resize, "require", missing)
    a = np.asarray(Image.fromarray(photo_rgb).resize(SIZE[::-1], Image.BILINEAR))
    b = cv2.resize(photo_rgb, SIZE[::-1])
    assert _resize_hints(a, b, photo_rgb, photo_rgb) == []


def test_bgr_port_with_cv2_resize_names_channel_order_and_resize(photo_rgb, photo_bgr):
    """PIL RGB resize (A) vs cv2 BGR resize (B): channel_order first, then resize_method with 0 residual."""
    a = np.asarray(transforms.Resize(SIZE)(Image.fromarray(photo_rgb)))
    b = cv2.resize(photo_bgr, SIZE[::-1])
    hints = explain_tensor_pair(a, b, stage="resize", tensor="out", inputs_a={"img": photo_rgb},
                                inputs_b={"img": photo_bgr}, meta_a={"color": "RGB"},
                                meta_b={"color": "BGR"}, budget_s=5.0)
    assert causes(hints) == ["channel_order", "resize_method"]
    assert hints[1].residual == 0.0
    assert hints[1].details["after_with_channels_reversed"] is True
