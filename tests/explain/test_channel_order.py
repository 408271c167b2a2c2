"""channel_order: B holds A's colour channels reversed (BGR vs RGB) in any layout."""
import pytest

from bmtrace.explain import explain_tensor_pair

from .conftest import causes

LAYOUTS = {
    "HWC": lambda x: x,
    "CHW": lambda x: x.transpose(2, 0, 1),
    "NCHW": lambda x: x.transpose(2, 0, 1)[None],
    "NHWC": lambda x: x[None],
}


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_pil_rgb_vs_cv2_bgr_decode_is_channel_order(photo_rgb, photo_bgr, layout):
    """The same JPEG decoded by PIL (RGB) and cv2.imread (BGR) is diagnosed as channel_order."""
    to = LAYOUTS[layout]
    hints = explain_tensor_pair(to(photo_rgb), to(photo_bgr), stage="decode", tensor="out")
    assert causes(hints) == ["channel_order"]
    assert hints[0].residual == 0.0
    assert hints[0].details["before_rms"] > 10 * hints[0].details["after_rms"]


def test_message_uses_colour_meta_of_both_sides(photo_rgb, photo_bgr):
    """With color meta the message names what the port feeds and what the original feeds."""
    tf = pytest.importorskip("torchvision.transforms.functional")
    norm = lambda x: tf.normalize(tf.to_tensor(x), (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)).numpy()
    hints = explain_tensor_pair(norm(photo_rgb), norm(photo_bgr), stage="normalize", tensor="out",
                                meta_a={"color": "RGB"}, meta_b={"color": "BGR"})
    assert hints[0].message.startswith("the port feeds BGR, the original RGB")


def test_declared_colour_orders_are_not_a_cause(photo_rgb, photo_bgr):
    """Both sides declare their colour order and B is exactly A in BGR: nothing to explain."""
    assert explain_tensor_pair(photo_rgb, photo_bgr, stage="decode", tensor="out",
                               meta_a={"color": "RGB"}, meta_b={"color": "BGR"}) == []


def test_rgba_channels_reversed_keep_alpha(photo_rgb):
    """BGRA vs RGBA (cv2.cvtColor RGB2BGRA) is channel_order too."""
    cv2 = pytest.importorskip("cv2")
    rgba = cv2.cvtColor(photo_rgb, cv2.COLOR_RGB2RGBA)
    bgra = cv2.cvtColor(photo_rgb, cv2.COLOR_RGB2BGRA)
    assert causes(explain_tensor_pair(rgba, bgra, stage="s", tensor="t")) == ["channel_order"]


def test_grey_image_gets_no_channel_order(photo_bgr):
    """A grey image is its own channel reversal: a blur difference must not be called channel_order."""
    cv2 = pytest.importorskip("cv2")
    grey = cv2.cvtColor(cv2.cvtColor(photo_bgr, cv2.COLOR_BGR2GRAY), cv2.COLOR_GRAY2BGR)
    blurred = cv2.GaussianBlur(grey, (5, 5), 0)
    assert "channel_order" not in causes(explain_tensor_pair(grey, blurred, stage="s", tensor="t"))


def test_jpeg_recompression_gets_no_channel_order(photo_bgr):
    """A colour image vs its re-encoded JPEG differs, but not by channel order."""
    cv2 = pytest.importorskip("cv2")
    ok, data = cv2.imencode(".jpg", photo_bgr, [cv2.IMWRITE_JPEG_QUALITY, 60])
    assert ok
    recoded = cv2.imdecode(data, cv2.IMREAD_COLOR)
    assert causes(explain_tensor_pair(photo_bgr, recoded, stage="s", tensor="t")) == []
