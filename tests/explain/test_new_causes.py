"""nonfinite, letterbox_shape, layout scrambles, double_normalization, input_scale and decoder."""
import numpy as np
import pytest

from bmtrace.explain import explain_tensor_pair

from .conftest import causes

cv2 = pytest.importorskip("cv2")
torch = pytest.importorskip("torch")
tf = pytest.importorskip("torchvision.transforms.functional")

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


# --- nonfinite ---------------------------------------------------------------------------------

def _logits():
    rng = np.random.default_rng(0)
    return (rng.normal(0, 30, (8, 1000)) + np.linspace(0, 60, 1000)).astype(np.float32)


def _naive_softmax(x):
    e = np.exp(x)  # no max subtraction: overflows to inf above ~88.7 in float32
    return e / e.sum(axis=1, keepdims=True)


def test_softmax_without_max_subtraction_is_nonfinite():
    """numpy softmax without max subtraction (B) vs torch.softmax (A): NaN born in this stage."""
    x = _logits()
    a = torch.softmax(torch.from_numpy(x), dim=1).numpy()
    with np.errstate(over="ignore", invalid="ignore"):
        b = _naive_softmax(x)
    hints = explain_tensor_pair(a, b, stage="softmax", tensor="out", inputs_a={"x": x}, inputs_b={"x": x})
    assert causes(hints) == ["nonfinite"]
    assert hints[0].details["side"] == "B" and hints[0].details["exp_overflow"] is True
    assert "subtract the max" in hints[0].message


def test_nan_already_in_the_inputs_is_not_introduced_here():
    """When B's inputs already hold NaN, this stage did not produce them: no nonfinite hint."""
    x = _logits()
    a = torch.softmax(torch.from_numpy(x), dim=1).numpy()
    xb = x.copy()
    xb[0, 0] = np.nan
    b = torch.softmax(torch.from_numpy(xb), dim=1).numpy()
    hints = explain_tensor_pair(a, b, stage="softmax", tensor="out", inputs_a={"x": x}, inputs_b={"x": xb})
    assert "nonfinite" not in causes(hints)


# --- letterbox_shape ---------------------------------------------------------------------------

def letterbox(img, new=640, auto=False, stride=32, value=114):
    """YOLOv5's letterbox with cv2: auto=True pads only to the next multiple of stride."""
    h, w = img.shape[:2]
    r = min(new / h, new / w)
    nw, nh = int(round(w * r)), int(round(h * r))
    dw, dh = new - nw, new - nh
    if auto:
        dw, dh = dw % stride, dh % stride
    dw, dh = dw / 2, dh / 2
    img = cv2.resize(img, (nw, nh), interpolation=cv2.INTER_LINEAR)
    top, bottom = int(round(dh - 0.1)), int(round(dh + 0.1))
    left, right = int(round(dw - 0.1)), int(round(dw + 0.1))
    return cv2.copyMakeBorder(img, top, bottom, left, right, cv2.BORDER_CONSTANT, value=(value,) * 3)


def test_minimum_rectangle_vs_fixed_is_letterbox_shape(photo_bgr):
    """letterbox(auto=True) (A, 640x576) vs a fixed 640x640 canvas (B): letterbox_shape."""
    a, b = letterbox(photo_bgr, auto=True), letterbox(photo_bgr, auto=False)
    assert a.shape != b.shape  # precondition: the minimum rectangle is smaller
    hints = explain_tensor_pair(a, b, stage="letterbox", tensor="out")
    assert causes(hints) == ["letterbox_shape"]
    assert hints[0].details["kind"] == "minimum_rectangle"
    assert "auto=True" in hints[0].message


def test_stride_rounding_is_letterbox_shape(photo_bgr):
    """auto=True with stride 32 (A) vs stride 64 (B): the canvases differ by the stride rounding."""
    img = photo_bgr[:, :380]  # 640 x 405 resized: pad 235 is 11 mod 32 but 43 mod 64
    a, b = letterbox(img, auto=True, stride=32), letterbox(img, auto=True, stride=64)
    assert a.shape != b.shape
    hints = explain_tensor_pair(a, b, stage="letterbox", tensor="out")
    assert causes(hints) == ["letterbox_shape"] and hints[0].details["kind"] == "stride"


def test_stretched_resize_is_not_letterbox_shape(photo_bgr):
    """A plain cv2 resize to 640x576 vs to 640x640 (no padding anywhere) is not letterbox_shape."""
    a, b = cv2.resize(photo_bgr, (640, 576)), cv2.resize(photo_bgr, (640, 640))
    assert "letterbox_shape" not in causes(explain_tensor_pair(a, b, stage="resize", tensor="out"))


# --- layout scrambles --------------------------------------------------------------------------

def test_reshape_then_permute_is_layout(photo_rgb):
    """torch .view(W, H, 3) then permute(1, 0, 2): a scramble no transpose explains, named exactly."""
    h, w, _ = photo_rgb.shape
    b = torch.from_numpy(photo_rgb.copy()).view(w, h, 3).permute(1, 0, 2).numpy()
    hints = explain_tensor_pair(photo_rgb, b, stage="to_tensor", tensor="out")
    assert causes(hints) == ["layout"]
    assert hints[0].details["kind"] == "reshape_transpose"


def test_flipped_image_is_layout(photo_bgr):
    """cv2.flip (mirror) on one side: B is A flipped along the width axis."""
    hints = explain_tensor_pair(photo_bgr, cv2.flip(photo_bgr, 1), stage="augment", tensor="out")
    assert causes(hints) == ["layout"]
    assert hints[0].details["kind"] == "flip"
    assert hints[0].details["axis"] == 1


def test_shuffled_pixels_with_noise_are_not_layout(photo_bgr):
    """A permutation of pixels plus one changed value no longer keeps the multiset: no layout."""
    b = np.random.default_rng(0).permutation(photo_bgr.reshape(-1, 3)).reshape(photo_bgr.shape)
    b[0, 0, 0] ^= 1
    assert "layout" not in causes(explain_tensor_pair(photo_bgr, b, stage="s", tensor="t"))


# --- double_normalization ----------------------------------------------------------------------

def _imagenet(img):
    return tf.normalize(tf.to_tensor(img), IMAGENET_MEAN, IMAGENET_STD)


def test_normalised_twice_is_double_normalization(photo_rgb):
    """torchvision Normalize applied twice on B (once on A): the second pass's mean/std recovered."""
    a = _imagenet(photo_rgb)
    b = tf.normalize(a, IMAGENET_MEAN, IMAGENET_STD)
    hints = explain_tensor_pair(a.numpy(), b.numpy(), stage="normalize", tensor="out")
    assert causes(hints) == ["double_normalization"]
    assert hints[0].details["twice_side"] == "B"
    assert hints[0].details["mean"] == pytest.approx(IMAGENET_MEAN, abs=2e-3)


def test_convert_to_on_top_of_fused_bmodel_is_double_normalization(photo_rgb):
    """B feeds normalised values to a bmodel whose metadata says mean/scale are fused."""
    x = _imagenet(photo_rgb)[None].numpy()
    model_b = {"preprocess": {"mean": [123.675, 116.28, 103.53], "scale": [0.0171, 0.0175, 0.0174]}}
    logits_a = np.linspace(0, 1, 1000, dtype=np.float32)[None]
    logits_b = logits_a + np.float32(0.25) * np.sin(np.arange(1000, dtype=np.float32))
    hints = explain_tensor_pair(logits_a, logits_b, stage="infer", tensor="logits", inputs_a={"x": x},
                                inputs_b={"x": x}, model_b=model_b)
    assert causes(hints) == ["double_normalization"]
    assert hints[0].details["kind"] == "twice"


def test_different_constants_are_not_double_normalization(photo_rgb):
    """ImageNet (A) vs mean=std=0.5 (B) from the same pixels: normalization, not double."""
    a = _imagenet(photo_rgb).numpy()
    b = tf.normalize(tf.to_tensor(photo_rgb), (0.5,) * 3, (0.5,) * 3).numpy()
    assert causes(explain_tensor_pair(a, b, stage="normalize", tensor="out")) == ["normalization"]


# --- input_scale -------------------------------------------------------------------------------

@pytest.mark.filterwarnings("ignore:torch.quantize_per_tensor")
def test_port_quantising_with_the_bmodel_scale_is_input_scale(photo_rgb):
    """B = torch int8 quantisation of A with the bmodel's input scale: applied twice with sail."""
    a = _imagenet(photo_rgb)[None]
    scale = 127 / float(a.abs().max())  # bmodel input scale: q = round(x * scale)
    b = torch.quantize_per_tensor(a, 1 / scale, 0, torch.qint8).int_repr().numpy()
    hints = explain_tensor_pair(a.numpy(), b, stage="infer", tensor="x", role="input",
                                model_b={"inputs": [{"name": "x", "dtype": "int8", "scale": scale}]})
    assert causes(hints) == ["input_scale"]
    assert "applied twice" in hints[0].message


def test_int8_cast_without_scale_is_input_scale(photo_rgb):
    """B casts A to int8 without the bmodel's input scale: the scale is missing."""
    a = _imagenet(photo_rgb)[None].numpy() * 20
    b = np.clip(np.rint(a), -128, 127).astype(np.int8)
    hints = explain_tensor_pair(a, b, stage="infer", tensor="x", role="input",
                                model_b={"inputs": [{"name": "x", "dtype": "int8", "scale": 42.7}]})
    assert causes(hints) == ["input_scale"] and hints[0].details["kind"] == "missing"


def test_uint8_cast_of_pixels_is_not_input_scale(photo_rgb):
    """astype(uint8) of float pixels (no model, no scale) is dtype_rounding, not input_scale."""
    a = cv2.resize(photo_rgb.astype(np.float32), (200, 180), interpolation=cv2.INTER_CUBIC).clip(0, 255)
    assert causes(explain_tensor_pair(a, a.astype(np.uint8), stage="s", tensor="t")) == ["dtype_rounding"]


# --- decoder -----------------------------------------------------------------------------------

def test_yuv420_decode_vs_libjpeg_is_decoder(photo_bgr):
    """cv2.imread (libjpeg) vs the same picture through YUV420 and cv2's YUV->BGR (hardware decode path)."""
    b = cv2.cvtColor(cv2.cvtColor(photo_bgr, cv2.COLOR_BGR2YUV_I420), cv2.COLOR_YUV2BGR_I420)
    hints = explain_tensor_pair(photo_bgr, b, stage="decode", tensor="out")
    assert causes(hints) == ["decoder"]
    assert hints[0].details["luma_rms"] < hints[0].details["chroma_rms"]


def test_jpeg_recompression_is_not_decoder(photo_bgr):
    """A re-encoded JPEG changes luma too: not a decoder difference."""
    ok, data = cv2.imencode(".jpg", photo_bgr, [cv2.IMWRITE_JPEG_QUALITY, 70])
    assert "decoder" not in causes(explain_tensor_pair(photo_bgr, cv2.imdecode(data, 1), stage="d", tensor="o"))


def test_decoder_hint_names_differing_library_versions(photo_bgr):
    """With run environments whose cv2 versions differ, the decoder hint names them."""
    b = cv2.cvtColor(cv2.cvtColor(photo_bgr, cv2.COLOR_BGR2YUV_I420), cv2.COLOR_YUV2BGR_I420)
    hints = explain_tensor_pair(photo_bgr, b, stage="decode", tensor="out",
                                env_a={"versions": {"cv2": "4.9.0"}}, env_b={"versions": {"cv2": "4.5.4"}})
    assert causes(hints) == ["decoder"]
    assert hints[0].details["versions"] == {"cv2": ["4.9.0", "4.5.4"]}


def test_raw_pixels_into_a_bmodel_without_fused_preprocess_is_double_normalization(photo_rgb):
    """B feeds raw 0..255 pixels to a bmodel whose metadata has no fused preprocessing: not at all."""
    raw = photo_rgb.transpose(2, 0, 1)[None].astype(np.float32)
    x = _imagenet(photo_rgb)[None].numpy()
    logits_a = np.linspace(0, 1, 1000, dtype=np.float32)[None]
    logits_b = logits_a + np.float32(0.25) * np.sin(np.arange(1000, dtype=np.float32))
    hints = explain_tensor_pair(logits_a, logits_b, stage="infer", tensor="logits", inputs_a={"x": x},
                                inputs_b={"x": raw}, model_b={"preprocess": {}})
    assert causes(hints) == ["double_normalization"]
    assert hints[0].details["kind"] == "missing"


def test_bmodel_with_fused_preprocess_fed_raw_pixels_is_silent(photo_rgb):
    """Raw pixels into a bmodel that fuses mean/scale is the intended use: no double_normalization."""
    raw = photo_rgb.transpose(2, 0, 1)[None].astype(np.float32)
    logits_a = np.linspace(0, 1, 1000, dtype=np.float32)[None]
    logits_b = logits_a + np.float32(0.25) * np.sin(np.arange(1000, dtype=np.float32))
    hints = explain_tensor_pair(logits_a, logits_b, stage="infer", tensor="logits", inputs_a={"x": raw},
                                inputs_b={"x": raw},
                                model_b={"preprocess": {"mean": [123.675, 116.28, 103.53], "scale": [0.0171] * 3}})
    assert "double_normalization" not in causes(hints)
