"""padding: letterbox pad value (114 vs 0), letterbox offset, or a small shift between A and B."""
from __future__ import annotations

import time

import numpy as np

from ._arrays import residuals
from .hint import Hint
from .structure import squeeze

# Shift search: offsets up to this many pixels, on a centre crop of at most CROP x CROP pixels.
MAX_SHIFT = 3
CROP = 96
SAMPLE_PIXELS = 1 << 17
SUBSTANTIAL = 0.5


def _as_hwc(x, meta):
    """A (H, W, C) view of an image-like array, or None."""
    s, letters = squeeze(x, meta)
    if letters == "HW":
        return s[:, :, None]
    if letters in ("HWC", "CHW"):
        return np.transpose(s, (letters.index("H"), letters.index("W"), letters.index("C")))
    return None


def _pad_value(img):
    corners = [img[0, 0], img[0, -1], img[-1, 0], img[-1, -1]]
    best, votes = corners[0], 0
    for c in corners:
        n = sum(bool(np.all(c == d)) for d in corners)
        if n > votes:
            best, votes = c, n
    return np.asarray(best)


def _is_pad(img, pad):
    # One comparison per channel: numpy reduces a trailing axis of 3 far slower than it ANDs planes.
    mask = img[:, :, 0] == pad[0]
    for c in range(1, img.shape[2]):
        mask &= img[:, :, c] == pad[c]
    return mask


def _box(img, pad):
    """(top, bottom, left, right) widths of the constant border whose value is pad, or None."""
    pad = np.ravel(pad)
    # Rows are screened on every 4th column and columns on every 4th row, then the borders found
    # are confirmed at full resolution; a 1080p frame costs a quarter of a full scan.
    rows = np.all(_is_pad(img[:, ::4], pad), axis=1)
    cols = np.all(_is_pad(img[::4, :], pad), axis=0)
    if rows.all():
        return None

    def run(flags):
        # Length of the leading run of True (argmin finds the first False).
        return len(flags) if flags.all() else int(np.argmin(flags))
    top, bottom, left, right = run(rows), run(rows[::-1]), run(cols), run(cols[::-1])
    h, w = img.shape[:2]
    border = np.zeros((h, w), bool)
    border[:top], border[h - bottom:], border[:, :left], border[:, w - right:] = True, True, True, True
    if not np.all(_is_pad(img, pad)[border]):
        return 0, 0, 0, 0  # the screen was fooled by a sparse pattern: no clean border
    return top, bottom, left, right


def _fmt_pad(pad):
    values = [float(v) for v in np.ravel(pad)]
    if all(v == values[0] for v in values):
        values = values[:1]
    text = ", ".join("%g" % v for v in values)
    return text if len(values) == 1 else "(%s)" % text


def _letterbox_hints(ia, ib, pa, pb, box_a, box_b):
    h, w = ia.shape[:2]
    # Residuals on every k-th row and column: borders stay represented, 1080p stays cheap.
    step = max(1, int(np.sqrt(h * w / SAMPLE_PIXELS)))
    sub = (slice(None, None, step), slice(None, None, step))
    before_max, before_rms = residuals(ia[sub], ib[sub])
    hints = []
    ta, ba, la, ra = box_a
    tb, bb, lb, rb = box_b
    size_a, size_b = (h - ta - ba, w - la - ra), (h - tb - bb, w - lb - rb)
    before = {"before_max_abs": before_max, "before_rms": before_rms,
              "box_a": [ta, ba, la, ra], "box_b": [tb, bb, lb, rb],
              "pad_a": np.ravel(pa).tolist(), "pad_b": np.ravel(pb).tolist()}
    # Rebuild B as A's padding would make it: A's pad value, content moved to A's offset.
    if size_a == size_b:
        # B rebuilt with A's pad value and offset, only at the sampled positions.
        ys, xs = np.arange(0, h, step), np.arange(0, w, step)
        fixed = np.empty(ia[sub].shape, dtype=np.float64)
        fixed[...] = np.ravel(pa)
        iy = (ys >= ta) & (ys < ta + size_a[0])
        ix = (xs >= la) & (xs < la + size_a[1])
        src = ib[np.ix_(ys[iy] - ta + tb, xs[ix] - la + lb)]
        fixed[np.ix_(iy, ix)] = src
        after_max, after_rms = residuals(ia[sub], fixed)
        if after_rms <= SUBSTANTIAL * before_rms:
            details = dict(before, after_max_abs=after_max, after_rms=after_rms)
            if not np.array_equal(pa, pb):
                details["kind"] = "pad_value"
                hints.append(Hint(
                    "padding", "the letterbox pad value differs: A pads with %s, B with %s; pad the "
                    "port with %s (cv2.copyMakeBorder value / bmcv padding colour)"
                    % (_fmt_pad(pa), _fmt_pad(pb), _fmt_pad(pa)),
                    0.9, after_max, details))
            if (ta, la) != (tb, lb):
                details = dict(details, kind="offset", offset=[ta - tb, la - lb])
                hints.append(Hint(
                    "padding", "B's letterboxed content sits (dy, dx) = (%d, %d) pixels from A's: "
                    "top/left padding is (%d, %d) in A but (%d, %d) in B; split the padding like the "
                    "original (e.g. top = int(round(dh - 0.1)), left = int(round(dw - 0.1)))"
                    % (ta - tb, la - lb, ta, la, tb, lb), 0.9, after_max, details))
    elif abs(size_a[0] - size_b[0]) <= 2 and abs(size_a[1] - size_b[1]) <= 2:
        details = dict(before, kind="content_size", size_a=list(size_a), size_b=list(size_b))
        hints.append(Hint(
            "padding", "the letterboxed content is %dx%d in A but %dx%d in B: the resized size "
            "(new_unpad) is rounded differently; compute it like the original (round, not int)"
            % (size_a[0], size_a[1], size_b[0], size_b[1]), 0.5, None, details))
    return hints


def _rms(x, y):
    d = x - y
    return float(np.sqrt(np.mean(d * d)))


def _shift_hint(ia, ib):
    h, w = ia.shape[:2]
    m = MAX_SHIFT
    if h <= 4 * m or w <= 4 * m:
        return None
    ch, cw = min(CROP, h - 2 * m), min(CROP, w - 2 * m)
    y0, x0 = (h - ch) // 2, (w - cw) // 2
    ref = ia[y0:y0 + ch, x0:x0 + cw].astype(np.float32)
    window = ib[y0 - m:y0 + ch + m, x0 - m:x0 + cw + m].astype(np.float32)
    if not (np.all(np.isfinite(ref)) and np.all(np.isfinite(window))):
        return None
    scores = {}
    for dy in range(-m, m + 1):
        for dx in range(-m, m + 1):
            scores[(dy, dx)] = _rms(ref, window[m + dy:m + dy + ch, m + dx:m + dx + cw])
    (dy, dx), after_rms = min(scores.items(), key=lambda kv: kv[1])
    before_rms = scores[(0, 0)]
    if (dy, dx) == (0, 0) or after_rms > 0.25 * before_rms:
        return None
    # Confirm on the whole overlap, not only the centre crop, before saying anything.
    ys, xs = slice(max(0, dy), h + min(0, dy)), slice(max(0, dx), w + min(0, dx))
    ya, xa = slice(max(0, -dy), h + min(0, -dy)), slice(max(0, -dx), w + min(0, -dx))
    after_max, after_rms_all = residuals(ia[ya, xa][::2, ::2], ib[ys, xs][::2, ::2])
    before_max, before_rms_all = residuals(ia[::2, ::2], ib[::2, ::2])
    if after_rms_all > 0.25 * before_rms_all:
        return None
    details = {"kind": "shift", "offset": [dy, dx], "before_max_abs": before_max,
               "before_rms": before_rms_all, "after_max_abs": after_max, "after_rms": after_rms_all,
               "measured_on": "overlap of the shifted images, every 2nd pixel"}
    return Hint("padding", "B is A shifted by (dy, dx) = (%d, %d) pixels: a crop or padding offset "
                "is rounded differently; make the port's top/left offsets match the original's"
                % (dy, dx), 0.8 * (1 - after_rms_all / before_rms_all), after_max, details)


def diagnose_images(a, b, meta_a=None, meta_b=None, deadline=None):
    """padding hints for a same-shape image pair: pad value, letterbox offset/size, or pixel shift."""
    ia, ib = _as_hwc(a, meta_a), _as_hwc(b, meta_b)
    if ia is None or ib is None or ia.shape != ib.shape or min(ia.shape[:2]) < 4:
        return []
    pa, pb = _pad_value(ia), _pad_value(ib)
    box_a, box_b = _box(ia, pa), _box(ib, pb)
    if box_a is None or box_b is None:
        return []
    if any(box_a) or any(box_b):
        hints = _letterbox_hints(ia, ib, pa, pb, box_a, box_b)
        if hints:
            return hints
    if deadline is not None and time.perf_counter() > deadline:
        return []
    hint = _shift_hint(ia, ib)
    return [hint] if hint is not None else []


def diagnose(ev):
    """padding hints for a same-shape image pair: pad value, letterbox offset/size, or pixel shift."""
    if ev.xa is None or ev.xb is None:
        return []
    return diagnose_images(ev.xa, ev.xb, ev.meta_a, ev.meta_b, ev.deadline)
