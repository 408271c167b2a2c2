"""padding: letterbox pad value, letterbox offset, content size, and small shifts."""
import numpy as np
import pytest

from bmtrace.explain import explain_tensor_pair


cv2 = pytest.importorskip("cv2")

NEW = 320


def letterbox(img, value=114, centre=True, new=NEW, to_int=round):
    """YOLOv5-style letterbox with cv2: resize to fit new x new, pad the rest with `value`."""
    h, w = img.shape[:2]
    r = min(new / h, new / w)
    nh, nw = int(to_int(h * r)), int(to_int(w * r))
    resized = cv2.resize(img, (nw, nh), interpolation=cv2.INTER_LINEAR)
    dh, dw = new - nh, new - nw
    if centre:
        top, left = int(round(dh / 2 - 0.1)), int(round(dw / 2 - 0.1))
    else:
        top, left = 0, 0  # pad only right/bottom, as some ports do
    bottom, right = dh - top, dw - left
    out = cv2.copyMakeBorder(resized, top, bottom, left, right, cv2.BORDER_CONSTANT, value=(value,) * 3)
    return out, (top, left)


def _padding(hints):
    return [h for h in hints if h.cause == "padding"]


def test_pad_value_114_vs_0(photo_bgr):
    """Letterbox with 114 (original) vs 0 (port) is a padding hint naming both values."""
    a, _ = letterbox(photo_bgr, 114)
    b, _ = letterbox(photo_bgr, 0)
    hints = _padding(explain_tensor_pair(a, b, stage="letterbox", tensor="out"))
    assert [h.details["kind"] for h in hints] == ["pad_value"]
    assert "114" in hints[0].message and "with 0" in hints[0].message
    assert hints[0].residual == 0.0


def test_centred_vs_top_left_letterbox_offset(photo_bgr):
    """Centred vs top-left letterbox reports the content offset (dy, dx) = difference of top/left."""
    a, (ta, la) = letterbox(photo_bgr, centre=True)
    b, (tb, lb) = letterbox(photo_bgr, centre=False)
    hints = _padding(explain_tensor_pair(a, b, stage="letterbox", tensor="out"))
    assert len(hints) == 1
    assert hints[0].details["offset"] == [ta - tb, la - lb]
    assert hints[0].residual == 0.0


def test_truncated_new_unpad_is_a_content_size_difference(photo_bgr):
    """new_unpad by round() (A) vs int() (B) letterboxes content one pixel narrower in B."""
    a, _ = letterbox(photo_bgr, new=330, to_int=round)
    b, _ = letterbox(photo_bgr, new=330, to_int=int)
    h, w = photo_bgr.shape[:2]
    r = 330 / max(h, w)
    assert round(w * r) - int(w * r) == 1  # precondition: the two roundings differ here
    hints = _padding(explain_tensor_pair(a, b, stage="letterbox", tensor="out"))
    assert [h.details["kind"] for h in hints] == ["content_size"]
    assert hints[0].details["size_a"][1] - hints[0].details["size_b"][1] == 1


def test_normalised_letterbox_pad_value(photo_bgr):
    """Pad values still differ after normalisation (CHW float): 114/255 vs 0."""
    a, _ = letterbox(photo_bgr, 114)
    b, _ = letterbox(photo_bgr, 0)
    a = a.transpose(2, 0, 1).astype(np.float32) / 255
    b = b.transpose(2, 0, 1).astype(np.float32) / 255
    hints = _padding(explain_tensor_pair(a, b, stage="preprocess", tensor="out"))
    assert [h.details["kind"] for h in hints] == ["pad_value"]


def test_crop_offset_is_a_shift(photo_bgr):
    """Crops one row/column apart are reported as a shift of B against A, with the right sign."""
    a = photo_bgr[10:410, 10:310]
    b = photo_bgr[12:412, 9:309]  # b[y, x] == a[y + 2, x - 1]: B is A shifted by (-2, +1)
    hints = _padding(explain_tensor_pair(a, b, stage="crop", tensor="out"))
    assert hints and hints[0].details["offset"] == [-2, 1]


def test_same_letterbox_with_jpeg_noise_is_silent(photo_bgr):
    """The same letterbox, once re-encoded as JPEG, gives no padding hint."""
    a, _ = letterbox(photo_bgr)
    ok, data = cv2.imencode(".jpg", a, [cv2.IMWRITE_JPEG_QUALITY, 80])
    b = cv2.imdecode(data, cv2.IMREAD_COLOR)
    assert _padding(explain_tensor_pair(a, b, stage="letterbox", tensor="out")) == []


def test_different_resize_is_not_a_shift(photo_bgr):
    """cv2 INTER_LINEAR vs INTER_AREA of the same image is not reported as padding."""
    a = cv2.resize(photo_bgr, (256, 300), interpolation=cv2.INTER_LINEAR)
    b = cv2.resize(photo_bgr, (256, 300), interpolation=cv2.INTER_AREA)
    assert _padding(explain_tensor_pair(a, b, stage="resize", tensor="out")) == []
