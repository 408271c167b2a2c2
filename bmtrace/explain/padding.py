"""padding: letterbox pad value (114 vs 0), letterbox offset, or a small shift between A and B."""
from __future__ import annotations

import numpy as np

from ._arrays import residuals
from .hint import Hint
from .structure import squeeze

# Shift search: offsets up to this many pixels, on a centre crop of at most CROP x CROP pixels.
MAX_SHIFT = 3
CROP = 256
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


def _box(img, pad):
    """(top, bottom, left, right) widths of the constant border whose value is pad."""
    is_pad = np.all(img == pad, axis=2)
    rows, cols = np.all(is_pad, axis=1), np.all(is_pad, axis=0)
    if rows.all():
        return None

    def run(flags):
        return int(np.argmin(flags)) if not flags[0] or not flags.all() else len(flags)
    return run(rows), run(rows[::-1]), run(cols), run(cols[::-1])


def _fmt_pad(pad):
    values = [float(v) for v in np.ravel(pad)]
    if all(v == values[0] for v in values):
        values = values[:1]
    text = ", ".join("%g" % v for v in values)
    return text if len(values) == 1 else "(%s)" % text


def _letterbox_hints(ia, ib, pa, pb, box_a, box_b):
    h, w = ia.shape[:2]
    before_max, before_rms = residuals(ia, ib)
    hints = []
    ta, ba, la, ra = box_a
    tb, bb, lb, rb = box_b
    size_a, size_b = (h - ta - ba, w - la - ra), (h - tb - bb, w - lb - rb)
    before = {"before_max_abs": before_max, "before_rms": before_rms,
              "box_a": [ta, ba, la, ra], "box_b": [tb, bb, lb, rb],
              "pad_a": np.ravel(pa).tolist(), "pad_b": np.ravel(pb).tolist()}
    # Rebuild B as A's padding would make it: A's pad value, content moved to A's offset.
    if size_a == size_b:
        fixed = np.empty_like(ia)
        fixed[...] = pa
        fixed[ta:ta + size_a[0], la:la + size_a[1]] = ib[tb:tb + size_b[0], lb:lb + size_b[1]]
        after_max, after_rms = residuals(ia, fixed)
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


def _shift_hint(ia, ib):
    h, w = ia.shape[:2]
    m = MAX_SHIFT
    if h <= 4 * m or w <= 4 * m:
        return None
    ch, cw = min(CROP, h - 2 * m), min(CROP, w - 2 * m)
    y0, x0 = (h - ch) // 2, (w - cw) // 2
    ref = ia[y0:y0 + ch, x0:x0 + cw]
    scores = {}
    for dy in range(-m, m + 1):
        for dx in range(-m, m + 1):
            scores[(dy, dx)] = residuals(ref, ib[y0 + dy:y0 + dy + ch, x0 + dx:x0 + dx + cw])
    (dy, dx), (after_max, after_rms) = min(scores.items(), key=lambda kv: kv[1][1])
    before_max, before_rms = scores[(0, 0)]
    if (dy, dx) == (0, 0) or after_rms > 0.25 * before_rms:
        return None
    details = {"kind": "shift", "offset": [dy, dx], "before_max_abs": before_max,
               "before_rms": before_rms, "after_max_abs": after_max, "after_rms": after_rms,
               "measured_on": "centre crop %dx%d" % (ch, cw)}
    return Hint("padding", "B is A shifted by (dy, dx) = (%d, %d) pixels: a crop or padding offset "
                "is rounded differently; make the port's top/left offsets match the original's"
                % (dy, dx), 0.8 * (1 - after_rms / before_rms), after_max, details)


def diagnose(a, b, meta_a=None, meta_b=None, deadline=None):
    """padding hints for a same-shape image pair: pad value, letterbox offset/size, or pixel shift."""
    ia, ib = _as_hwc(a, meta_a), _as_hwc(b, meta_b)
    if ia is None or ib is None or ia.shape != ib.shape or min(ia.shape[:2]) < 4:
        return []
    pa, pb = _pad_value(ia), _pad_value(ib)
    box_a, box_b = _box(ia, pa), _box(ib, pb)
    if box_a is None or box_b is None:
        return []
    if any(box_a) or any(box_b):
        hints = _letterbox_hints(ia.astype(np.float64), ib.astype(np.float64), pa, pb, box_a, box_b)
        if hints:
            return hints
    hint = _shift_hint(ia.astype(np.float32), ib.astype(np.float32))
    return [hint] if hint is not None else []
