"""Image panels for the HTML report: detect image-like tensors, scale them for display, encode PNGs.

numpy only at import time; matplotlib (colour maps, PNG writer) is loaded when an image is encoded.
"""
from __future__ import annotations

import base64
import io

import numpy as np

# Below this many pixels on a side a tensor is more likely a feature vector than a picture.
MIN_SIDE = 8
_CHANNELS = (1, 3)
HEATMAP_CMAP = "inferno"
# Non-finite differences (NaN on one side, inf) are painted in a colour the colour map never uses.
BAD_COLOUR = (0, 229, 255)
NAN_PIXEL = (255, 0, 255)


class ImageView(object):
    """A tensor seen as an H x W x C picture (C is 1 or 3), with how it was read."""

    def __init__(self, hwc, layout, note=None):
        self.hwc = hwc
        self.layout = layout
        self.note = note

    @property
    def hw(self):
        """(height, width) of the picture."""
        return self.hwc.shape[:2]


def _layout_hint(meta):
    layout = str((meta or {}).get("layout") or "").upper()
    return layout or None


def is_bgr(meta):
    """True when the tensor meta says its channels are in BGR order."""
    return declared_order(meta) == "BGR"


def declared_order(meta):
    """"BGR" or "RGB" when the tensor meta says its channel order, else None."""
    # Codecs describe channel order under different keys (cv2 meta "color", sail "format", PIL "mode").
    for key in ("color", "colour", "format", "mode", "channel_order"):
        value = (meta or {}).get(key)
        if isinstance(value, str):
            for order in ("BGR", "RGB"):
                if order in value.upper():
                    return order
    return None


def _big_enough(h, w):
    return h >= MIN_SIDE and w >= MIN_SIDE


def as_image(arr, meta=None):
    """Return an ImageView when arr looks like HW, HWC, CHW, NHWC or NCHW with 1 or 3 channels.

    A layout in meta ("HWC", "CHW", "NCHW", "NHWC") wins over guessing from the shape. A batch
    larger than one shows its first item and says so. Returns None for anything else.
    """
    if not isinstance(arr, np.ndarray) or arr.dtype.kind not in "biuf" or arr.size == 0:
        return None
    layout = _layout_hint(meta)
    note = None
    if arr.ndim == 4:
        if arr.shape[0] != 1:
            note = "batch item 0 of %d" % arr.shape[0]
        arr = arr[0]
        layout = {"NCHW": "CHW", "NHWC": "HWC"}.get(layout)
    if arr.ndim == 2:
        if not _big_enough(*arr.shape):
            return None
        return ImageView(arr[:, :, None], "HW", note)
    if arr.ndim != 3:
        return None
    chw_ok = arr.shape[0] in _CHANNELS and _big_enough(arr.shape[1], arr.shape[2])
    hwc_ok = arr.shape[2] in _CHANNELS and _big_enough(arr.shape[0], arr.shape[1])
    if layout == "CHW" and chw_ok or layout != "HWC" and chw_ok and not hwc_ok:
        return ImageView(np.moveaxis(arr, 0, -1), "CHW", note)
    if hwc_ok:
        return ImageView(arr, "HWC", note)
    return None


def display_range(*arrays):
    """Common (low, high) for showing arrays side by side, so equal values get equal grey levels.

    uint8 data keeps 0..255; floats that fit 0..1 or 0..255 keep that range (so a normalised image
    is not stretched); anything else (mean/std normalised data) spans its finite min..max.
    """
    finite = [a[np.isfinite(a)] if a.dtype.kind == "f" else a.ravel() for a in arrays if a is not None]
    finite = [f for f in finite if f.size]
    if not finite:
        return 0.0, 1.0
    if all(a.dtype == np.uint8 for a in arrays if a is not None):
        return 0.0, 255.0
    lo = float(min(f.min() for f in finite))
    hi = float(max(f.max() for f in finite))
    if lo >= 0 and hi <= 1:
        return 0.0, 1.0
    if lo >= 0 and hi <= 255 and hi > 1:
        return 0.0, 255.0
    if hi <= lo:
        return lo, lo + 1.0
    return lo, hi


def stride_for(h, w, max_side):
    """Integer step that brings the longer side down to at most max_side."""
    return max(1, -(-max(h, w) // max_side))


def to_rgb8(view, bgr, lo, hi, step):
    """Downsample (every step-th pixel) and map to uint8 RGB; NaN/inf pixels become magenta."""
    img = view.hwc[::step, ::step].astype(np.float64)
    bad = ~np.isfinite(img).all(axis=2)
    scaled = np.clip((np.nan_to_num(img, nan=lo, posinf=hi, neginf=lo) - lo) / (hi - lo), 0, 1)
    rgb = np.round(scaled * 255).astype(np.uint8)
    if rgb.shape[2] == 1:
        rgb = np.repeat(rgb, 3, axis=2)
    elif bgr:
        rgb = rgb[:, :, ::-1]
    rgb[bad] = NAN_PIXEL
    return np.ascontiguousarray(rgb)


def abs_diff(view_a, view_b):
    """Per-pixel |A-B| (max over channels), float64; equal non-finite values count as 0, else NaN."""
    a = view_a.hwc.astype(np.float64)
    b = view_b.hwc.astype(np.float64)
    with np.errstate(invalid="ignore"):
        diff = np.abs(a - b)
        same = (a == b) | (np.isnan(a) & np.isnan(b))
    diff[same] = 0.0
    diff[~np.isfinite(diff)] = np.nan  # one-sided NaN or inf-inf: not a magnitude, flag it
    # max over channels, NaN-propagating so a bad channel marks the pixel
    return diff.max(axis=2)


def block_max(diff, step):
    """Downsample a 2-D map by taking the max of each step x step block, so one bad pixel stays visible."""
    if step == 1:
        return diff
    h, w = diff.shape
    ph, pw = -h % step, -w % step
    padded = np.pad(diff, ((0, ph), (0, pw)), constant_values=0.0)
    blocks = padded.reshape((h + ph) // step, step, (w + pw) // step, step)
    return blocks.max(axis=(1, 3))


def heatmap_rgb(diff, vmax):
    """Colour a 2-D |A-B| map with the heat colour map on 0..vmax; NaN pixels get BAD_COLOUR."""
    from matplotlib import colormaps

    cmap = colormaps[HEATMAP_CMAP]
    bad = np.isnan(diff)
    norm = np.clip(np.nan_to_num(diff, nan=0.0) / vmax, 0, 1)
    rgb = (cmap(norm)[:, :, :3] * 255).round().astype(np.uint8)
    rgb[bad] = BAD_COLOUR
    return np.ascontiguousarray(rgb)


def colour_stops(n=9):
    """CSS colour stops of the heat colour map, for the legend bar drawn in HTML."""
    from matplotlib import colormaps

    cmap = colormaps[HEATMAP_CMAP]
    stops = []
    for i in range(n):
        r, g, b, _ = cmap(i / (n - 1.0))
        percent = round(100.0 * i / (n - 1))
        stops.append("rgb(%d,%d,%d) %d%%" % (round(r * 255), round(g * 255), round(b * 255), percent))
    return ", ".join(stops)


def png_data_uri(rgb):
    """Encode a uint8 H x W x 3 array as a base64 PNG data URI (matplotlib's PNG writer)."""
    from matplotlib import image as mpimage

    buf = io.BytesIO()
    mpimage.imsave(buf, rgb, format="png")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")
