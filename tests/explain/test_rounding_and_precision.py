"""dtype_rounding (truncation vs rounding, saturation, float16) and precision (benign FP32 error)."""
import numpy as np
import pytest

from bmtrace.explain import explain_tensor_pair

from .conftest import causes

cv2 = pytest.importorskip("cv2")
torch = pytest.importorskip("torch")


@pytest.fixture(scope="module")
def resized_float(photo_bgr):
    """A float32 resize of the photo: non-integer pixel values in 0..255."""
    return cv2.resize(photo_bgr.astype(np.float32), (200, 180), interpolation=cv2.INTER_CUBIC)


def _only(hints, cause):
    return [h for h in hints if h.cause == cause]


def test_float_vs_astype_uint8_is_truncation(resized_float):
    """Float pixels vs numpy astype(uint8) (truncation, wrap) names the truncating cast."""
    a = np.clip(resized_float, 0, 255)
    b = a.astype(np.uint8)
    hints = explain_tensor_pair(a, b, stage="to_uint8", tensor="out")
    assert causes(hints) == ["dtype_rounding"]
    assert hints[0].details["mode"] == "trunc"
    assert hints[0].residual == 0.0


def test_float_vs_cv2_convert_is_rounding(resized_float):
    """Float pixels vs cv2's saturating, rounding conversion names rounding half to even."""
    a = resized_float
    b = cv2.convertScaleAbs(np.clip(a, 0, None))
    hints = explain_tensor_pair(a, b, stage="to_uint8", tensor="out")
    assert causes(hints) == ["dtype_rounding"]
    assert (hints[0].details["mode"], hints[0].details["overflow"]) == ("rint", "saturate")


def test_wrap_around_vs_saturation(resized_float):
    """Brightened pixels over 255 cast by numpy (wraps) vs cv2 (saturates) is dtype_rounding."""
    bright = np.clip(resized_float, 0, None) * 1.6  # cubic overshoot below 0 would hit abs()
    a = cv2.convertScaleAbs(bright)  # saturates at 255
    b = np.rint(bright).astype(np.int32).astype(np.uint8)  # wraps modulo 256
    hints = explain_tensor_pair(a, b, stage="to_uint8", tensor="out")
    assert causes(hints) == ["dtype_rounding"]
    assert hints[0].details["kind"] == "saturation"
    assert hints[0].details["saturating_side"] == "A"


def test_rounding_vs_truncation_of_uint8_images(resized_float):
    """cv2 rounding (A) vs astype truncation (B), both uint8: B is one lower, never higher."""
    pixels = np.clip(resized_float, 0, 255)  # convertScaleAbs takes abs() of cubic undershoot
    a = cv2.convertScaleAbs(pixels)
    b = pixels.astype(np.uint8)
    hints = explain_tensor_pair(a, b, stage="to_uint8", tensor="out")
    assert causes(hints) == ["dtype_rounding"]
    assert hints[0].details["lower_side"] == "B"


def test_float16_round_trip(photo_rgb):
    """A float32 tensor vs the same tensor through torch .half() is a float16 dtype_rounding."""
    a = torch.from_numpy(photo_rgb.astype(np.float32) / 255 - 0.45)
    b = a.half().float()
    hints = explain_tensor_pair(a.numpy(), b.numpy(), stage="normalize", tensor="out")
    assert causes(hints) == ["dtype_rounding"]
    assert hints[0].details["kind"] == "float16"


def test_symmetric_lsb_differences_are_not_rounding(photo_bgr):
    """cv2 INTER_LINEAR vs torchvision bilinear (no antialias) differ by +-1 both ways: no rounding hint."""
    tf = pytest.importorskip("torchvision.transforms.functional")
    a = cv2.resize(photo_bgr, (224, 224))
    chw = torch.from_numpy(photo_bgr.transpose(2, 0, 1).copy())
    b = tf.resize(chw, [224, 224], antialias=False).numpy().transpose(1, 2, 0)
    d = b.astype(int) - a.astype(int)
    assert (d > 0).any() and (d < 0).any()  # precondition: errors of both signs
    assert "dtype_rounding" not in causes(explain_tensor_pair(a, b, stage="resize", tensor="out"))


def _conv_net():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Conv2d(3, 16, 3), torch.nn.ReLU(), torch.nn.Conv2d(16, 8, 3)).eval()


def test_fp32_vs_fp64_conv_is_benign_precision(photo_rgb):
    """A conv net in float32 vs float64 (cast back) differs by FP32 error: precision, benign."""
    net = _conv_net()
    x = torch.from_numpy(photo_rgb[:96, :96].transpose(2, 0, 1).astype(np.float32) / 255)[None]
    with torch.no_grad():
        a = net(x).numpy()
        b = net.double()(x.double()).float().numpy()
    assert not np.array_equal(a, b)  # precondition: the two computations really differ
    hints = explain_tensor_pair(b, a, stage="infer", tensor="out")
    assert causes(hints) == ["precision"]
    assert hints[0].details["benign"] is True


def test_different_weights_are_not_precision(photo_rgb):
    """Two nets with different weights differ far beyond FP32 error: no precision hint."""
    x = torch.from_numpy(photo_rgb[:96, :96].transpose(2, 0, 1).astype(np.float32) / 255)[None]
    net_a = _conv_net()
    torch.manual_seed(1)
    net_b = torch.nn.Sequential(torch.nn.Conv2d(3, 16, 3), torch.nn.ReLU(), torch.nn.Conv2d(16, 8, 3)).eval()
    with torch.no_grad():
        hints = explain_tensor_pair(net_a(x).numpy(), net_b(x).numpy(), stage="infer", tensor="out")
    assert "precision" not in causes(hints)


def test_scale_then_truncating_cast_names_both(photo_rgb):
    """0..1 floats (A) vs astype(uint8) of A*255 (B): value_scale 255, then a truncating cast."""
    a = cv2.resize(photo_rgb.astype(np.float32) / 255, (224, 224), interpolation=cv2.INTER_AREA)
    b = (a * 255).astype(np.uint8)
    hints = explain_tensor_pair(a, b, stage="to_uint8", tensor="out")
    assert causes(hints) == ["value_scale"]
    assert hints[0].details["k"] == 255.0
    assert hints[0].details["then_rounded"]["mode"] == "trunc"
    assert hints[0].residual == 0.0


def test_bfloat16_conv_is_reduced_precision(photo_rgb):
    """The same conv net in float32 (A) and bfloat16 (B, cast back): B lies on the bfloat16 grid."""
    net = _conv_net()
    x = torch.from_numpy(photo_rgb[:96, :96].transpose(2, 0, 1).astype(np.float32) / 255)[None]
    with torch.no_grad():
        a = net(x).numpy()
        b = net.bfloat16()(x.bfloat16()).float().numpy()
    hints = explain_tensor_pair(a, b, stage="infer", tensor="out")
    assert causes(hints) == ["precision"]
    assert hints[0].details["kind"] == "bfloat16" and hints[0].details["benign"] is False


@pytest.mark.filterwarnings("ignore:torch.quantize_per_tensor")
def test_int8_dequantised_output_is_reduced_precision(photo_rgb):
    """A float32 output vs the same output through torch int8 quantisation (dequantised)."""
    net = _conv_net()
    x = torch.from_numpy(photo_rgb[:96, :96].transpose(2, 0, 1).astype(np.float32) / 255)[None]
    with torch.no_grad():
        a = net(x)
    scale = float(a.abs().max()) / 127
    b = torch.quantize_per_tensor(a, scale, 0, torch.qint8).dequantize().numpy()
    hints = explain_tensor_pair(a.numpy(), b, stage="infer", tensor="out")
    assert causes(hints) == ["precision"]
    assert hints[0].details["kind"] == "int8"


def test_fp32_difference_beyond_noise_is_not_precision(photo_rgb):
    """Two FP32 computations that differ beyond FP32 noise (a 2% weight change) get no precision hint."""
    net = _conv_net()
    x = torch.from_numpy(photo_rgb[:96, :96].transpose(2, 0, 1).astype(np.float32) / 255)[None]
    with torch.no_grad():
        a = net(x).numpy()
        net[0].weight.mul_(1.002)
        b = net(x).numpy()
    assert "precision" not in causes(explain_tensor_pair(a, b, stage="infer", tensor="out"))



def test_half_casts_round_as_torch_does():
    """The float16/bfloat16 round-trips (round to nearest even) agree with torch's casts, bit for bit,
    over random bit patterns, every tie of the bfloat16 grid and the float32 extremes."""
    from bmtrace.explain.rounding import _half_cast

    rng = np.random.default_rng(0)
    bits = np.concatenate([rng.integers(0, 1 << 32, 200000, dtype=np.uint64).astype(np.uint32),
                           np.arange(0, 1 << 32, 1 << 15, dtype=np.uint64).astype(np.uint32),
                           np.uint32([0, 0x80000000, 0x7F7FFFFF, 0xFF7FFFFF, 0x7F800000, 0xFF800000])])
    x = bits.view(np.float32)
    x = x[~np.isnan(x)]
    with np.errstate(over="ignore"):
        casts = _half_cast(x)
    for name, dtype in (("bfloat16", torch.bfloat16), ("float16", torch.float16)):
        want = torch.from_numpy(x).to(dtype).float().numpy()
        assert np.array_equal(casts[name].astype(np.float32).view(np.uint32), want.view(np.uint32)), name
