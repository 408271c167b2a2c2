"""letterbox_shape: letterboxed images of different shapes (minimum rectangle vs fixed, stride rounding).

YOLOv5's letterbox(auto=True) pads only up to the next multiple of the stride (a "minimum
rectangle", e.g. 640x512); ports usually pad to the fixed model shape (640x640). Same content,
different canvas: the resized content matches within a pixel, only the padding differs.
"""
from __future__ import annotations

import numpy as np

from .hint import Hint
from .padding import _as_hwc, _box, _pad_value

STRIDES = (128, 64, 32, 16, 8)
# The resized content may differ by a pixel when sizes are rounded differently.
CONTENT_SLACK = 2


def _stride(n):
    return next((s for s in STRIDES if n % s == 0), None)


def _canvas(img):
    """(canvas (h, w), content (h, w), pad value) of a letterboxed HWC image, or None."""
    pad = _pad_value(img)
    box = _box(img, pad)
    if box is None or not any(box):
        return None
    top, bottom, left, right = box
    h, w = img.shape[:2]
    return (h, w), (h - top - bottom, w - left - right), pad


def _declared(ev, side):
    params = ev.params(side)
    return {k: params[k] for k in ("auto", "stride", "new_shape", "scaleup") if k in params}


def diagnose(ev):
    """A letterbox_shape hint for two letterboxed images of the same content on different canvases."""
    if ev.xa is None or ev.xb is None:
        return []
    ia, ib = _as_hwc(ev.xa, ev.meta_a), _as_hwc(ev.xb, ev.meta_b)
    if ia is None or ib is None or ia.shape[2] != ib.shape[2] or ia.shape[:2] == ib.shape[:2]:
        return []
    if min(ia.shape[:2] + ib.shape[:2]) < 8:
        return []
    ca, cb = _canvas(ia), _canvas(ib)
    if ca is None and cb is None:
        return []
    # A side with no border at all is a canvas exactly filled by its content.
    ca = ca or (ia.shape[:2], ia.shape[:2], None)
    cb = cb or (ib.shape[:2], ib.shape[:2], None)
    (canvas_a, content_a, _), (canvas_b, content_b, _) = ca, cb
    if any(abs(x - y) > CONTENT_SLACK for x, y in zip(content_a, content_b)):
        return []  # the content itself was resized to another size: not a canvas question
    if max(canvas_a) != max(canvas_b):
        return []  # a different target size altogether
    details = {"canvas_a": list(canvas_a), "canvas_b": list(canvas_b), "content_a": list(content_a),
               "content_b": list(content_b), "stride_a": [_stride(n) for n in canvas_a],
               "stride_b": [_stride(n) for n in canvas_b]}
    for side in ("a", "b"):
        if _declared(ev, side):
            details["params_" + side] = _declared(ev, side)
    square_a, square_b = canvas_a[0] == canvas_a[1], canvas_b[0] == canvas_b[1]

    def rect(side, canvas):
        return "%s pads to the minimum rectangle %dx%d (letterbox auto=True, stride %s)" % (
            side, canvas[0], canvas[1], min(s or 1 for s in (_stride(canvas[0]), _stride(canvas[1]))))
    if square_a != square_b:
        fixed, other = ("A", canvas_a) if square_a else ("B", canvas_b)
        rect_side, rect_canvas = ("B", canvas_b) if square_a else ("A", canvas_a)
        message = "%s, %s to the fixed %dx%d: use the same letterbox shape (auto=False for a static bmodel)" % (
            rect(rect_side, rect_canvas), fixed, other[0], other[1])
        details["kind"] = "minimum_rectangle"
    else:
        dims = [d for d in (0, 1) if canvas_a[d] != canvas_b[d]]
        strides = [max(_stride(canvas_a[d]) or 1 for d in dims), max(_stride(canvas_b[d]) or 1 for d in dims)]
        details["padded_to_multiple_of"] = strides
        message = ("the letterbox canvases differ (%dx%d in A, %dx%d in B) for the same content: A pads "
                   "to a multiple of %d, B of %d; use the original's stride" % (
                       canvas_a[0], canvas_a[1], canvas_b[0], canvas_b[1], strides[0], strides[1]))
        details["kind"] = "stride"
    return [Hint("letterbox_shape", message, 0.85, None, details)]
