"""Structural candidates: ways B's array can hold A's values (transposed, reshaped, channel-reversed)."""
from __future__ import annotations

import itertools

import numpy as np

from ._arrays import CHANNEL_SIZES, layout_letters
from .hint import Hint

# Beyond 5 axes permutations explode and nothing image-like lives there.
MAX_PERMUTED_NDIM = 5


class Structure:
    """One way to map A onto B's shape: a list of ops (cause, details) and a function A -> view."""

    def __init__(self, ops, apply):
        self.ops = ops
        self.apply = apply

    def causes(self):
        """The causes named by this structure's ops, in order."""
        return [cause for cause, _ in self.ops]

    def without(self, cause):
        """The ops list with one cause removed (used for ablation lookups)."""
        return tuple((c, _freeze(d)) for c, d in self.ops if c != cause)

    def key(self):
        """Hashable identity of the ops list."""
        return tuple((c, _freeze(d)) for c, d in self.ops)


def _freeze(details):
    return tuple(sorted((k, tuple(v) if isinstance(v, list) else v) for k, v in details.items()))


def squeeze(arr, meta=None):
    """Drop size-1 axes; return (array, layout letters of the squeezed array or None)."""
    letters = layout_letters(arr.shape, meta)
    keep = [i for i, n in enumerate(arr.shape) if n != 1]
    squeezed = arr.reshape([arr.shape[i] for i in keep])
    if letters is not None:
        letters = "".join(letters[i] for i in keep)
        if len(set(letters)) != len(letters):
            letters = None
    else:
        letters = layout_letters(squeezed.shape)
    return squeezed, letters


def _permutations(shape_a, shape_b):
    if len(shape_a) != len(shape_b) or len(shape_a) > MAX_PERMUTED_NDIM:
        return []
    nd = len(shape_a)
    found = []
    for perm in itertools.permutations(range(nd)):
        if perm == tuple(range(nd)):
            continue
        if tuple(shape_a[i] for i in perm) == tuple(shape_b):
            found.append(perm)
    return found


def _channel_flips(shape, letters):
    """Axes along which reversing the first three entries means swapping RGB <-> BGR."""
    axes = []
    if letters and "C" in letters:
        axes.append(letters.index("C"))
    else:
        # Unknown layout: any axis of 3 or 4 entries may hold colour; try the last, then the first.
        for axis in (len(shape) - 1, 0):
            if 0 <= axis < len(shape) and shape[axis] in (3, 4) and axis not in axes:
                axes.append(axis)
    return [ax for ax in axes if shape[ax] in CHANNEL_SIZES and shape[ax] >= 3]


def _flip(axis, size):
    def apply(x):
        index = [slice(None)] * x.ndim
        if size == 3:
            index[axis] = slice(None, None, -1)
            return x[tuple(index)]
        # 4 channels: BGRA <-> RGBA keeps alpha in place.
        index[axis] = [2, 1, 0, 3]
        return x[tuple(index)]
    return apply


def candidates(shape_a, shape_b, letters_a, letters_b):
    """All structures mapping an array of shape_a onto shape_b, identity first.

    Args:
        shape_a, shape_b: squeezed shapes.
        letters_a, letters_b: layout letters of those shapes, or None.
    """
    shape_a, shape_b = tuple(shape_a), tuple(shape_b)
    bases = []
    if shape_a == shape_b:
        bases.append(Structure([], lambda x: x))
    for perm in _permutations(shape_a, shape_b):
        details = {"kind": "transpose", "axes": list(perm)}
        if letters_a:
            details["from"] = letters_a
            details["to"] = "".join(letters_a[i] for i in perm)
        bases.append(Structure([("layout", details)], lambda x, p=perm: np.transpose(x, p)))
    if shape_a != shape_b and sorted(shape_a) == sorted(shape_b):
        details = {"kind": "reshape", "shape_a": list(shape_a), "shape_b": list(shape_b)}
        if letters_a and letters_b:
            details["from"], details["to"] = letters_a, letters_b
        bases.append(Structure([("layout", details)], lambda x, s=shape_b: x.reshape(s)))
    out = list(bases)
    for base in bases:
        for axis in _channel_flips(shape_b, letters_b):
            flip = _flip(axis, shape_b[axis])
            ops = base.ops + [("channel_order", {"axis": axis, "channels": shape_b[axis]})]
            out.append(Structure(ops, lambda x, f=flip, g=base.apply: f(g(x))))
    return out


def _color_names(meta_a, meta_b):
    def color(meta):
        if not meta:
            return None
        for key in ("color", "mode", "format"):
            value = str(meta.get(key, "")).upper()
            for name in ("BGR", "RGB"):
                if name in value:
                    return name
        return None
    return color(meta_a), color(meta_b)


def structure_hint(cause, op, scored_details, meta_a, meta_b, confidence, residual):
    """A channel_order or layout hint for one structural op of the winning chain."""
    if cause == "channel_order":
        color_a, color_b = _color_names(meta_a, meta_b)
        if color_a and color_b and color_a != color_b:
            message = ("the port feeds %s, the original %s: convert with cv2.cvtColor(img, "
                       "cv2.COLOR_%s2%s) before normalize" % (color_b, color_a, color_b, color_a))
        else:
            message = ("B's colour channels are A's in reverse order (BGR vs RGB): convert the port's "
                       "image with cv2.cvtColor(img, cv2.COLOR_BGR2RGB) (or reverse channel axis %d) "
                       "before normalize" % op["axis"])
    elif op["kind"] == "transpose":
        inverse = [int(i) for i in np.argsort(op["axes"])]
        if "from" in op:
            message = ("B is A transposed from %s to %s: the port must produce the original's layout "
                       "(np.transpose(b, %s) restores A's)" % (op["from"], op["to"], tuple(inverse)))
        else:
            message = ("B is A transposed by axes %s: the port must produce the original's layout "
                       "(np.transpose(b, %s) restores A's)" % (tuple(op["axes"]), tuple(inverse)))
    else:
        if "from" in op:
            perm = [op["from"].index(letter) for letter in op["to"]]
            message = ("B holds A's %s bytes reshaped to %s instead of transposed: use "
                       "np.transpose(x, %s) (torch permute), not reshape/view" % (
                           op["from"], op["to"], tuple(perm)))
        else:
            message = ("B holds A's bytes reshaped from %s to %s instead of transposed: use a transpose "
                       "(np.transpose / torch permute), not reshape/view" % (
                           tuple(op["shape_a"]), tuple(op["shape_b"])))
    details = dict(scored_details)
    details.update(op)
    return Hint(cause, message, confidence, residual, details)
