"""box_clip and padding for two box arrays of the same detections (row i is the same box on both sides).

Two causes move boxes after the detector: the clip to the image (to w-1/h-1, to w/h, or none) and
the letterbox pad subtracted when mapping boxes back (derived from a rounded vs an exact resized
size). The first changes only boxes at the border; the second shifts every box by a constant.
"""
from __future__ import annotations

import numpy as np

from ._detections import is_detection_array
from .hint import Hint

AXES = (("x", [0, 2], "w"), ("y", [1, 3], "h"))
# Interior boxes must agree on one offset this closely (px) to call it a shift.
OFFSET_SPREAD = 0.05


def _image_size(ev):
    """(h, w) of the image the boxes live in, from meta or the stage's image input, or None."""
    for meta in (ev.meta_a, ev.meta_b):
        for key in ("image_size", "orig_shape", "image_shape"):
            v = meta.get(key)
            if isinstance(v, (list, tuple)) and len(v) >= 2:
                return int(v[0]), int(v[1])
    candidates = []
    for inputs in (ev.inputs_a, ev.inputs_b):
        names = list(inputs or {})
        for name in names:
            try:
                x = np.asarray(inputs[name])
            except Exception:
                continue
            if x.ndim == 3 and x.shape[2] in (1, 3, 4) and min(x.shape[:2]) > 8:
                return int(x.shape[0]), int(x.shape[1])
            # A shape passed as a tuple is recorded as scalars "img0_shape[0]", "img0_shape[1]", ...
            if name.endswith("[0]") and name[:-3] + "[1]" in names and x.ndim == 0:
                try:
                    candidates.append((int(x), int(np.asarray(inputs[name[:-3] + "[1]"]))))
                except (TypeError, ValueError):
                    continue
    boxes = [np.asarray(v, dtype=np.float64) for v in (ev.xa, ev.xb) if v is not None and np.ndim(v) == 2]
    for h, w in candidates:  # the image the boxes were clipped to touches one of its borders
        if any(np.any(np.isin(b[:, [0, 2]], (w, w - 1))) or np.any(np.isin(b[:, [1, 3]], (h, h - 1)))
               for b in boxes if b.shape[1] >= 4):
            return h, w
    return None


def _clip_bound(values, size):
    """The upper bound one side clips to: the known size or size-1 if hit, else a repeated maximum."""
    top = float(np.max(values))
    if size is not None and top in (size, size - 1):
        return top
    if size is None and np.count_nonzero(values == top) >= 2:
        return top
    return None


def _axis(va, vb, size, tol):
    """Clip and offset facts for one axis (all x or all y coordinates), or None."""
    differ = np.abs(va - vb) > tol
    if not differ.any():
        return {"clip": None, "offset": 0.0, "residual": 0.0}
    hi_a, hi_b = _clip_bound(va, size), _clip_bound(vb, size)
    lo_a, lo_b = (0.0 if np.min(va) == 0 else None), (0.0 if np.min(vb) == 0 else None)
    at_border = np.zeros(va.shape, bool)
    for bound in {hi_a, hi_b, lo_a, lo_b} - {None}:
        at_border |= (va == bound) | (vb == bound)
    at_border |= (va < 0) | (vb < 0)
    for hi in (hi_a, hi_b):
        if hi is not None:
            at_border |= (va > hi) | (vb > hi)
    interior = ~at_border
    offset = 0.0
    moved = differ & interior
    if moved.any():
        d = (vb - va)[interior]
        offset = float(np.median(d))
        if offset == 0 or np.mean(np.abs(d - offset) <= max(tol, OFFSET_SPREAD * abs(offset))) < 0.95:
            return None  # interior boxes moved, but not by one offset: something else
    # Rebuild each side from the other: shift, then clip as the target side does (or not at all).
    def rebuilt(src, shift, lo, hi):
        out = src + shift
        if lo is not None:
            out = np.maximum(out, lo)
        if hi is not None:
            out = np.minimum(out, hi)
        return out
    residual = min(float(np.max(np.abs(rebuilt(va, offset, lo_b, hi_b) - vb))),
                   float(np.max(np.abs(rebuilt(vb, -offset, lo_a, hi_a) - va))))
    clip = None
    # Bounds that moved with the offset are the same clip seen through the shift.
    moved_hi = hi_a is not None and hi_b is not None and abs(hi_a + offset - hi_b) <= tol
    moved_lo = lo_a is None and lo_b is None
    if not (moved_hi or hi_a == hi_b) or not (moved_lo or lo_a == lo_b):
        clip = {"a_hi": hi_a, "b_hi": hi_b, "a_lo": lo_a, "b_lo": lo_b}
    return {"clip": clip, "offset": offset, "residual": residual}


def _clip_words(axis, letter, clip, size):
    def bound(hi, lo):
        if hi is None and lo is None:
            return "does not clip"
        name = ""
        if hi is not None and size is not None:
            name = " (%s-1)" % letter if hi == size - 1 else " (%s)" % letter if hi == size else ""
        if lo is None:
            return "clips to <= %g%s" % (hi, name)
        if hi is None:
            return "clips to >= %g" % lo
        return "clips to [%g, %g]%s" % (lo, hi, name)
    return "%s: A %s, B %s" % (axis, bound(clip["a_hi"], clip["a_lo"]), bound(clip["b_hi"], clip["b_lo"]))


def diagnose(ev):
    """box_clip / padding hints for same-shape (N, 4+) box arrays of the same detections."""
    a, b = ev.xa, ev.xb
    if a is None or b is None or a.shape != b.shape or not is_detection_array(a) or len(a) < 2:
        return []
    ba, bb = a[:, :4].astype(np.float64), b[:, :4].astype(np.float64)
    if not (np.all(np.isfinite(ba)) and np.all(np.isfinite(bb))):
        return []
    tol = 1e-4 * max(1.0, float(np.max(np.abs(ba))))
    if np.all(np.abs(ba - bb) <= tol):
        return []
    size = _image_size(ev)
    facts = {}
    for axis, cols, letter in AXES:
        dim = None if size is None else size[1] if letter == "w" else size[0]
        fact = _axis(ba[:, cols].ravel(), bb[:, cols].ravel(), dim, tol)
        if fact is None:
            return []
        facts[axis] = (fact, letter, dim)
    before = float(np.max(np.abs(ba - bb)))
    after = max(f[0]["residual"] for f in facts.values())
    if after > max(tol, 0.1 * before):
        return []  # shift + clip leave too much unexplained
    changed_rows = int(np.count_nonzero(np.any(np.abs(ba - bb) > tol, axis=1)))
    details = {"before_max_abs": before, "after_max_abs": after, "boxes_changed": changed_rows,
               "boxes": len(ba), "image_size": list(size) if size else None}
    hints = []
    clips = [(axis, f) for axis, f in facts.items() if f[0]["clip"] is not None]
    if clips:
        words = "; ".join(_clip_words(axis, letter, f["clip"], dim) for axis, (f, letter, dim) in clips)
        d = dict(details, clip={axis: f[0]["clip"] for axis, f in clips})
        hints.append(Hint("box_clip", "boxes at the image border are clipped differently (%s, %d of "
                          "%d boxes differ): clip the port's boxes like the original" % (
                              words, changed_rows, len(ba)), 0.85, after, d))
    offsets = {axis: f[0]["offset"] for axis, f in facts.items()}
    if any(offsets.values()):
        d = dict(details, kind="box_offset", offset=[offsets["x"], offsets["y"]])
        hints.append(Hint("padding", "B's boxes are A's shifted by (dx, dy) = (%.3g, %.3g) px: the "
                          "letterbox pad subtracted when mapping boxes back differs (e.g. derived from "
                          "a rounded vs an exact resized size); compute the pad like the original" % (
                              offsets["x"], offsets["y"]), 0.8, after, d))
    return hints
