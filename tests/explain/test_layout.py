"""layout: B holds A transposed (HWC/CHW, NCHW/NHWC) or A's bytes reshaped instead of transposed."""
import numpy as np
import pytest

from bmtrace.explain import explain_tensor_pair

from .conftest import causes

torch = pytest.importorskip("torch")


def test_permuted_tensor_is_layout_transpose(photo_rgb):
    """torch permute(2, 0, 1) of an HWC image is a layout transpose HWC -> CHW."""
    chw = torch.from_numpy(photo_rgb.copy()).permute(2, 0, 1).numpy()
    hints = explain_tensor_pair(photo_rgb, chw, stage="to_tensor", tensor="out")
    assert causes(hints) == ["layout"]
    details = hints[0].details
    assert (details["kind"], details["from"], details["to"]) == ("transpose", "HWC", "CHW")
    assert hints[0].residual == 0.0


def test_view_instead_of_permute_is_layout_reshape(photo_rgb):
    """torch .view(3, H, W) of HWC bytes (the classic port bug) is reported as reshaped, not transposed."""
    h, w, _ = photo_rgb.shape
    viewed = torch.from_numpy(photo_rgb.copy()).view(3, h, w).numpy()
    hints = explain_tensor_pair(photo_rgb, viewed, stage="to_tensor", tensor="out")
    assert causes(hints) == ["layout"]
    assert hints[0].details["kind"] == "reshape"
    assert "transpose" in hints[0].message


def test_nchw_vs_nhwc_batch_is_layout(photo_rgb):
    """A torchvision NCHW batch vs the port's NHWC batch of the same values is a layout transpose."""
    tf = pytest.importorskip("torchvision.transforms.functional")
    nchw = tf.to_tensor(photo_rgb)[None].numpy()
    nhwc = np.ascontiguousarray(nchw.transpose(0, 2, 3, 1))
    hints = explain_tensor_pair(nchw, nhwc, stage="normalize", tensor="out")
    assert causes(hints) == ["layout"]
    assert hints[0].details["from"] == "CHW" and hints[0].details["to"] == "HWC"


def test_declared_layouts_are_not_a_cause(photo_rgb):
    """meta layout NCHW (A) and NHWC (B) with B exactly A transposed: a declared representation, no hint."""
    tf = pytest.importorskip("torchvision.transforms.functional")
    nchw = tf.to_tensor(photo_rgb)[None].numpy()
    nhwc = np.ascontiguousarray(nchw.transpose(0, 2, 3, 1))
    assert explain_tensor_pair(nchw, nhwc, stage="normalize", tensor="out",
                               meta_a={"layout": "NCHW"}, meta_b={"layout": "NHWC"}) == []


def test_transposed_and_bgr_names_both(photo_rgb, photo_bgr):
    """HWC RGB vs CHW BGR (cv2 image transposed for the TPU) names channel_order and layout."""
    hints = explain_tensor_pair(photo_rgb, photo_bgr.transpose(2, 0, 1), stage="s", tensor="t")
    assert sorted(causes(hints)) == ["channel_order", "layout"]
    assert hints[0].cause == "channel_order"


def test_same_layout_with_blur_gets_no_layout(photo_rgb):
    """Same-layout images that differ by a blur do not get a layout hint."""
    cv2 = pytest.importorskip("cv2")
    blurred = cv2.blur(photo_rgb, (3, 3))
    assert "layout" not in causes(explain_tensor_pair(photo_rgb, blurred, stage="s", tensor="t"))
