"""value_scale and normalization: B = k*A, or B = a_c*A + b_c per channel (mean/std, convert_to)."""
import numpy as np
import pytest

from bmtrace.explain import explain_tensor_pair

from .conftest import causes

tf = pytest.importorskip("torchvision.transforms.functional")

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def _imagenet(img):
    """torchvision ToTensor + Normalize(ImageNet) of an HWC uint8 image: CHW float32."""
    return tf.normalize(tf.to_tensor(img), IMAGENET_MEAN, IMAGENET_STD).numpy()


def test_to_tensor_vs_raw_pixels_is_value_scale_255(photo_rgb):
    """ToTensor output (0..1) vs the port's raw 0..255 CHW floats is value_scale with k = 255."""
    a = tf.to_tensor(photo_rgb).numpy()
    b = photo_rgb.transpose(2, 0, 1).astype(np.float32)
    hints = explain_tensor_pair(a, b, stage="to_tensor", tensor="out")
    assert causes(hints) == ["value_scale"]
    assert hints[0].details["k"] == 255.0
    assert hints[0].residual < 1e-4


def test_scale_255_with_float_rounding_noise(photo_rgb):
    """float32 x/255 of a cv2 resize vs that times 255 (off by float rounding) is value_scale 255."""
    cv2 = pytest.importorskip("cv2")
    a = cv2.resize(photo_rgb, (224, 224)).astype(np.float32) / 255
    b = a * 255
    hints = explain_tensor_pair(a, b, stage="normalize", tensor="out")
    assert causes(hints) == ["value_scale"]
    assert hints[0].details["k"] == 255.0


def test_scale_by_one_over_255_is_value_scale(photo_rgb):
    """Raw pixels vs ToTensor output is value_scale with k = 1/255."""
    a = photo_rgb.transpose(2, 0, 1).astype(np.float32)
    hints = explain_tensor_pair(a, tf.to_tensor(photo_rgb).numpy(), stage="s", tensor="t")
    assert causes(hints) == ["value_scale"]
    assert hints[0].details["k"] == pytest.approx(1 / 255.0)


def test_scale_and_layout_together(photo_rgb):
    """ToTensor (CHW, 0..1) vs the raw HWC image names layout and value_scale."""
    hints = explain_tensor_pair(tf.to_tensor(photo_rgb).numpy(), photo_rgb, stage="s", tensor="t")
    assert sorted(causes(hints)) == ["layout", "value_scale"]


def test_raw_vs_imagenet_normalised_reports_mean_std_and_convert_to(photo_rgb):
    """Raw pixels (A) vs Normalize(ImageNet) (B): implied mean/std and Bmcv.convert_to alpha/beta."""
    a = photo_rgb.transpose(2, 0, 1).astype(np.float32)
    hints = explain_tensor_pair(a, _imagenet(photo_rgb), stage="normalize", tensor="out")
    assert causes(hints) == ["normalization"]
    details = hints[0].details
    assert details["raw_side"] == "A"
    assert details["mean"] == pytest.approx(IMAGENET_MEAN, abs=1e-3)
    assert details["std"] == pytest.approx(IMAGENET_STD, abs=1e-3)
    expected = [[1 / (255 * s), -m / s] for m, s in zip(IMAGENET_MEAN, IMAGENET_STD)]
    assert np.allclose(details["convert_to"], expected, rtol=1e-3)


def test_port_feeding_raw_pixels_is_told_to_add_normalisation(photo_rgb):
    """Original normalises (A), port feeds raw pixels (B): the message asks for convert_to."""
    b = photo_rgb.transpose(2, 0, 1).astype(np.float32)
    hints = explain_tensor_pair(_imagenet(photo_rgb), b, stage="normalize", tensor="out")
    assert causes(hints) == ["normalization"]
    assert hints[0].details["raw_side"] == "B"
    assert hints[0].details["mean"] == pytest.approx(IMAGENET_MEAN, abs=1e-3)
    assert "convert_to" in hints[0].message


def test_different_constants_give_the_fitted_alpha_beta(photo_rgb):
    """ImageNet (A) vs mean=std=0.5 (B): alpha = std_A/0.5 and beta = (mean_A - 0.5)/0.5 per channel."""
    b = tf.normalize(tf.to_tensor(photo_rgb), (0.5,) * 3, (0.5,) * 3).numpy()
    hints = explain_tensor_pair(_imagenet(photo_rgb), b, stage="normalize", tensor="out")
    assert causes(hints) == ["normalization"]
    assert hints[0].details["alpha"] == pytest.approx([s / 0.5 for s in IMAGENET_STD], rel=1e-3)
    assert hints[0].details["beta"] == pytest.approx([(m - 0.5) / 0.5 for m in IMAGENET_MEAN], abs=1e-3)


def test_bgr_normalised_with_rgb_constants_names_channel_order_first(photo_rgb, photo_bgr):
    """Normalize(ImageNet) of the cv2 BGR image vs of the PIL RGB image: channel_order, then normalization."""
    hints = explain_tensor_pair(_imagenet(photo_rgb), _imagenet(photo_bgr), stage="normalize", tensor="out")
    assert causes(hints) == ["channel_order", "normalization"]
    assert hints[1].details["same_constants_other_channel_order"] is True
    assert hints[0].residual < 1e-4


def test_same_normalisation_of_recompressed_jpeg_is_not_normalization(photo_bgr):
    """Identical normalisation of a re-encoded JPEG differs by compression noise only: no hint."""
    cv2 = pytest.importorskip("cv2")
    ok, data = cv2.imencode(".jpg", photo_bgr, [cv2.IMWRITE_JPEG_QUALITY, 70])
    recoded = cv2.imdecode(data, cv2.IMREAD_COLOR)
    hints = explain_tensor_pair(_imagenet(photo_bgr), _imagenet(recoded), stage="normalize", tensor="out")
    assert not {"normalization", "value_scale"} & set(causes(hints))


def test_stage_inputs_name_each_sides_own_constants(photo_rgb):
    """With the normalize stage's raw inputs, the hint names both sides' mean/std."""
    a = _imagenet(photo_rgb)
    b = tf.normalize(tf.to_tensor(photo_rgb), (0.5,) * 3, (0.5,) * 3).numpy()
    raw = {"img": photo_rgb}
    hints = explain_tensor_pair(a, b, stage="normalize", tensor="out", inputs_a=raw, inputs_b=raw,
                                budget_s=5.0)
    assert causes(hints) == ["normalization"]
    details = hints[0].details
    assert details["a_normalization"]["mean"] == pytest.approx(IMAGENET_MEAN, abs=1e-3)
    assert details["b_normalization"]["std"] == pytest.approx((0.5,) * 3, abs=1e-3)
    assert "A normalises with mean=(0.485" in hints[0].message


def test_normalisation_found_under_an_upstream_resize_difference(photo_rgb):
    """PIL-resized + ImageNet (A) vs cv2-resized + mean=std=0.5 (B): constants still recovered."""
    cv2 = pytest.importorskip("cv2")
    Image = pytest.importorskip("PIL.Image")
    a = _imagenet(np.array(Image.fromarray(photo_rgb).resize((224, 224), Image.BILINEAR)))
    b = tf.normalize(tf.to_tensor(cv2.resize(photo_rgb, (224, 224))), (0.5,) * 3, (0.5,) * 3).numpy()
    hints = explain_tensor_pair(a, b, stage="normalize", tensor="out")
    assert causes(hints) == ["normalization"]
    assert hints[0].details["alpha"] == pytest.approx([s / 0.5 for s in IMAGENET_STD], abs=0.03)
    assert hints[0].residual > 0  # the resize difference is left over, and reported as such


def test_gamma_curve_is_not_normalization(photo_bgr):
    """A cv2.LUT gamma curve is non-linear: neither normalization nor value_scale is claimed."""
    cv2 = pytest.importorskip("cv2")
    lut = np.clip(255 * (np.arange(256) / 255.0) ** 0.7, 0, 255).astype(np.uint8)
    hints = explain_tensor_pair(photo_bgr, cv2.LUT(photo_bgr, lut), stage="s", tensor="t")
    assert not {"normalization", "value_scale"} & set(causes(hints))
