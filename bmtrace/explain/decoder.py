"""decoder: two decodes of the same picture that differ in chroma, not in luma.

JPEG and video decoders differ mostly in how they upsample the subsampled chroma planes (libjpeg's
"fancy" triangle filter vs a hardware decoder's YUV420 output converted with nearest chroma, as
Sophon's decoder + bmcv do). The luma plane then agrees to rounding, and the error sits on colour
edges where chroma changes fast.
"""
from __future__ import annotations

import numpy as np

from .hint import Hint
from .padding import _as_hwc

# Luma error at most this fraction of the chroma error, and at most this many levels rms.
LUMA_RATIO = 0.35
LUMA_RMS = 1.5
# The top EDGE_FRACTION of pixels by chroma gradient must hold at least EDGE_SHARE of the error.
EDGE_FRACTION = 0.2
EDGE_SHARE = 0.5
MIN_CHROMA_RMS = 0.5
SAMPLE_PIXELS = 1 << 18


def _ycc(img, bgr):
    img = img.astype(np.float32)
    r, g, b = (img[..., 2], img[..., 1], img[..., 0]) if bgr else (img[..., 0], img[..., 1], img[..., 2])
    y = 0.299 * r + 0.587 * g + 0.114 * b
    return y, 0.564 * (b - y), 0.713 * (r - y)


def _is_bgr(ev):
    for meta in (ev.meta_a, ev.meta_b):
        value = str(meta.get("color", "")).upper()
        if "BGR" in value:
            return True
        if "RGB" in value:
            return False
    return True  # decoders in ports (cv2, bmcv) hand out BGR; luma weights barely care


def _rms(x):
    return float(np.sqrt(np.mean(x * x)))


def diagnose(ev):
    """A decoder hint when two same-shape colour images differ in chroma, on colour edges, not luma."""
    if ev.xa is None or ev.xb is None:
        return []
    ia, ib = _as_hwc(ev.xa, ev.meta_a), _as_hwc(ev.xb, ev.meta_b)
    if ia is None or ib is None or ia.shape != ib.shape or ia.shape[2] != 3 or min(ia.shape[:2]) < 16:
        return []
    step = max(1, int(np.sqrt(ia.shape[0] * ia.shape[1] / SAMPLE_PIXELS)))
    ia, ib = ia[::step, ::step].astype(np.float32), ib[::step, ::step].astype(np.float32)
    if min(float(np.min(ia)), float(np.min(ib))) < 0:
        return []  # normalised tensors: not decoded pixels
    hi = float(max(np.max(ia), np.max(ib)))
    if hi <= 1.5:
        ia, ib = ia * 255.0, ib * 255.0  # 0..1 images: work in 8-bit levels
    bgr = _is_bgr(ev)
    ya, cba, cra = _ycc(ia, bgr)
    yb, cbb, crb = _ycc(ib, bgr)
    luma = _rms(ya - yb)
    err = np.hypot(cba - cbb, cra - crb)
    chroma = _rms(err)
    if chroma < MIN_CHROMA_RMS or luma > LUMA_RATIO * chroma or luma > LUMA_RMS:
        return []
    gy, gx = np.gradient(cba)
    hy, hx = np.gradient(cra)
    edge = np.hypot(np.hypot(gx, gy), np.hypot(hx, hy))
    cut = np.quantile(edge, 1 - EDGE_FRACTION)
    energy = err * err
    share = float(energy[edge >= cut].sum() / max(energy.sum(), 1e-12))
    if share < EDGE_SHARE:
        return []
    details = {"luma_rms": luma, "chroma_rms": chroma, "edge_share": share,
               "edge_fraction": EDGE_FRACTION, "before_max_abs": float(np.max(np.abs(ia - ib)))}
    message = ("luma agrees (rms %.2f levels) but chroma differs (rms %.2f), %.0f%% of it on the "
               "%.0f%% sharpest colour edges: the decoders upsample chroma differently (libjpeg vs a "
               "YUV420 hardware decode); decode both sides with the same decoder" % (
                   luma, chroma, 100 * share, 100 * EDGE_FRACTION))
    versions = ev.version_differences(("cv2", "PIL", "sail"))
    if versions:
        details["versions"] = versions
        message += " (library versions differ: %s)" % ", ".join(
            "%s %s vs %s" % (lib, a, b) for lib, (a, b) in sorted(versions.items()))
    return [Hint("decoder", message, 0.75, None, details)]
