"""Representation mappings: when B's tensor is EXACTLY A's under a change of representation.

A mapping is a channel reversal (BGR vs RGB) on the colour axis, a transpose (HWC<->CHW,
NCHW<->NHWC), size-1 axes added or removed (a batch dimension), an exact x255 or /255 scale, a
dtype widening (uint8 -> float32, same values), or a combination, applied in that fixed order:

    B = widen(scale * reverse(transpose(squeeze(A)))) reshaped to B's shape

`find_mapping` claims one only when it reproduces B exactly (element for element; within float
rounding when a scale is involved). A reshape that scrambles element order is never a mapping:
that is the `layout` bug, and the explain package reports it.

Pure numpy; cheap: every candidate is first checked on a strided sample of a few thousand
elements, and only a candidate that passes is checked on the whole tensor.
"""
from __future__ import annotations

import itertools

import numpy as np

# Candidates are screened on at most this many strided elements before the exact check.
SCREEN_CAP = 4096
# Scales a representation change may apply (ToTensor divides by 255; ports often multiply back).
SCALES = (1.0, 255.0, 1.0 / 255.0)
# Allowed float error of a scaled value, in units of the coarser float type's epsilon x |value|.
ULPS = 4
MAX_PERMUTED_NDIM = 5
# Full-size checks work on blocks of this many elements to bound temporary memory.
BLOCK = 1 << 20
_COLOR_NAMES = ("BGR", "RGB")


def _color(meta):
    if not meta:
        return None
    for key in ("color", "mode", "format"):
        value = str(meta.get(key, "")).upper()
        for name in _COLOR_NAMES:
            if name in value:
                return name
    return None


def _letters(shape, meta):
    """Declared (meta "layout") or guessed layout letters of a full shape, or None."""
    if meta:
        given = meta.get("layout")
        if isinstance(given, str) and len(given) == len(shape) and len(set(given)) == len(given):
            return given.upper()
    nd = len(shape)
    if nd == 2:
        return "HW"
    if nd == 3:
        first, last = shape[0] in (1, 3, 4), shape[2] in (1, 3, 4)
        if first != last:
            return "CHW" if first else "HWC"
        return None
    if nd == 4:
        second, last = shape[1] in (1, 3, 4), shape[3] in (1, 3, 4)
        if second != last:
            return "NCHW" if second else "NHWC"
    return None


def _squeeze_letters(shape, letters):
    if letters is None:
        return None
    kept = "".join(letter for letter, n in zip(letters, shape) if n != 1)
    return kept if len(set(kept)) == len(kept) else None


def _squeezed(x):
    return x.reshape([n for n in x.shape if n != 1])


def _flip(x, axis):
    """Reverse the colour channels along axis (BGRA <-> RGBA keeps alpha in place)."""
    index = [slice(None)] * x.ndim
    index[axis] = slice(None, None, -1) if x.shape[axis] == 3 else [2, 1, 0, 3]
    return x[tuple(index)]


def _snap_scale(k):
    for nice in SCALES:
        if abs(k / nice - 1.0) < 1e-6:
            return nice
    return k


class Mapping:
    """B = this mapping applied to A (see the module docstring for the order of the steps).

    Attributes:
        perm: axes of squeezed A in the order squeezed B holds them, or None (no transpose).
        channels_reversed: True when B's colour channels are A's reversed.
        color_axis: the colour axis in squeezed B, or None.
        scale: 1.0, 255.0 or 1/255.
        dtype: B's dtype name when B widened A's dtype, else None.
        shape_a, shape_b: the full shapes the mapping was found on.
        layout_a, layout_b: layout letters of the full shapes when declared or guessed, or None.
        color_a, color_b: declared colour orders ("RGB"/"BGR"), or None.
    """

    def __init__(self, perm=None, channels_reversed=False, color_axis=None, scale=1.0, dtype=None,
                 shape_a=None, shape_b=None, layout_a=None, layout_b=None, color_a=None,
                 color_b=None):
        if perm is not None and tuple(perm) == tuple(range(len(perm))):
            perm = None
        self.perm = None if perm is None else tuple(int(p) for p in perm)
        self.channels_reversed = bool(channels_reversed)
        self.color_axis = None if color_axis is None else int(color_axis)
        self.scale = _snap_scale(float(scale))
        self.dtype = None if dtype is None else np.dtype(dtype).name
        self.shape_a = None if shape_a is None else tuple(int(n) for n in shape_a)
        self.shape_b = None if shape_b is None else tuple(int(n) for n in shape_b)
        self.layout_a, self.layout_b = layout_a, layout_b
        self.color_a, self.color_b = color_a, color_b

    # --- identity and composition -------------------------------------------------------------
    def _key(self):
        return (self.perm, self.channels_reversed, self.scale, self.dtype, self._reshaped())

    def _reshaped(self):
        """True when only size-1 axes differ between A's and B's shapes (a batch dim added/removed)."""
        if self.shape_a is None or self.shape_b is None:
            return False
        return self.shape_a != self.shape_b and self.perm is None and \
            [n for n in self.shape_a if n != 1] == [n for n in self.shape_b if n != 1]

    def __eq__(self, other):
        return isinstance(other, Mapping) and self._key() == other._key()

    def __hash__(self):
        return hash(self._key())

    def __repr__(self):
        return "Mapping(%s)" % self.describe()

    def is_identity(self):
        """True when the mapping changes nothing at all."""
        return self.perm is None and not self.channels_reversed and self.scale == 1.0 and \
            self.dtype is None and not self._reshaped()

    def compose(self, then):
        """The mapping `then` applied after this one (A -> self -> then)."""
        perm = self.perm
        if then.perm is not None:
            base = perm if perm is not None else tuple(range(len(then.perm)))
            perm = tuple(base[i] for i in then.perm) if len(base) == len(then.perm) else then.perm
        return Mapping(perm=perm, channels_reversed=self.channels_reversed != then.channels_reversed,
                       color_axis=then.color_axis if then.color_axis is not None else self.color_axis,
                       scale=self.scale * then.scale, dtype=then.dtype or self.dtype,
                       shape_a=self.shape_a, shape_b=then.shape_b, layout_a=self.layout_a,
                       layout_b=then.layout_b or self.layout_b, color_a=self.color_a,
                       color_b=then.color_b or self.color_b)

    def causes(self):
        """The explain causes this mapping stands for (channel_order, layout, value_scale)."""
        out = []
        if self.channels_reversed:
            out.append("channel_order")
        if self.perm is not None or self._reshaped():
            out.append("layout")
        if self.scale != 1.0:
            out.append("value_scale")
        return out

    # --- words and JSON -----------------------------------------------------------------------
    def describe(self):
        """One short phrase: "B is BGR", "B is CHW", "B = A/255", joined by ", "."""
        parts = []
        if self.channels_reversed:
            if self.color_b:
                parts.append("B is %s" % self.color_b)
            elif self.color_a:
                parts.append("B is %s" % ("RGB" if self.color_a == "BGR" else "BGR"))
            else:
                parts.append("B's colour channels are reversed (BGR/RGB)")
        if self.perm is not None:
            if self.layout_b and self.layout_a:
                parts.append("B is %s" % self.layout_b)
            else:
                parts.append("B is A transposed by %s" % (self.perm,))
        elif self._reshaped():
            more = len(self.shape_b) > len(self.shape_a)
            parts.append("B %s a size-1 axis (%s vs %s)" % ("adds" if more else "drops",
                                                            self.shape_b, self.shape_a))
        if self.scale == 255.0:
            parts.append("B = A*255")
        elif self.scale == 1.0 / 255.0:
            parts.append("B = A/255")
        elif self.scale != 1.0:
            parts.append("B = A*%g" % self.scale)
        if self.dtype:
            parts.append("B is %s" % self.dtype)
        return ", ".join(parts) if parts else "identity"

    def to_json(self):
        """A plain dict (round-trips through Mapping.from_json)."""
        return {"describe": self.describe(), "perm": list(self.perm) if self.perm else None,
                "channels_reversed": self.channels_reversed, "color_axis": self.color_axis,
                "scale": self.scale, "dtype": self.dtype,
                "shape_a": list(self.shape_a) if self.shape_a else None,
                "shape_b": list(self.shape_b) if self.shape_b else None,
                "layout_a": self.layout_a, "layout_b": self.layout_b,
                "color_a": self.color_a, "color_b": self.color_b}

    @classmethod
    def from_json(cls, doc):
        """Rebuild a Mapping from to_json() output."""
        fields = {k: v for k, v in doc.items() if k != "describe"}
        return cls(**fields)

    # --- applying -----------------------------------------------------------------------------
    def _view(self, a):
        """Squeezed A transposed and channel-reversed (a view, no copy), for A of the found shape."""
        s = _squeezed(np.asarray(a))
        if self.perm is not None:
            if s.ndim != len(self.perm):
                raise ValueError("mapping transposes %d axes; this tensor has %d after squeezing"
                                 % (len(self.perm), s.ndim))
            s = np.transpose(s, self.perm)
        if self.channels_reversed:
            axis = self.color_axis if self.color_axis is not None and \
                self.color_axis < s.ndim and s.shape[self.color_axis] in (3, 4) else _guess_color_axis(s)
            if axis is None:
                raise ValueError("no colour axis of 3 or 4 channels in shape %s" % (s.shape,))
            s = _flip(s, axis)
        return s

    def apply(self, a):
        """A in B's representation (an ndarray of B's shape when A has the shape it was found on)."""
        a = np.asarray(a)
        s = self._view(a)
        if self.scale != 1.0:
            target = np.dtype(self.dtype or (a.dtype if a.dtype.kind == "f" else np.float32))
            s = s.astype(np.float64) * self.scale
            s = (np.rint(s) if target.kind in "iu" else s).astype(target)
        elif self.dtype is not None:
            s = s.astype(self.dtype)
        if self.shape_b is not None and int(np.prod(self.shape_b)) == s.size and \
                [n for n in self.shape_b if n != 1] == list(s.shape):
            s = s.reshape(self.shape_b)
        return np.ascontiguousarray(s)

    def explains(self, a, b):
        """True when b is exactly a under this mapping (float rounding allowed when scaled)."""
        a, b = np.asarray(a), np.asarray(b)
        try:
            view = self._view(a)
        except ValueError:
            return False
        sb = _squeezed(b)
        if view.shape != sb.shape:
            return False
        return _exact(view, sb, self.scale, a.dtype, b.dtype)


def _guess_color_axis(s):
    letters = _letters(s.shape, None)
    if letters and "C" in letters and s.shape[letters.index("C")] in (3, 4):
        return letters.index("C")
    for axis in (s.ndim - 1, 0):
        if s.shape[axis] in (3, 4):
            return axis
    return None


def _tolerance_eps(scale, dtype_a, dtype_b):
    """Relative float error allowed, or 0.0 when B must equal A bit for bit."""
    floats = [np.finfo(d).eps for d in (dtype_a, dtype_b) if np.dtype(d).kind == "f"]
    if scale == 1.0:
        # Same values copied or widened: no arithmetic, no rounding allowed.
        return 0.0
    return ULPS * float(max(floats) if floats else np.finfo(np.float32).eps)


def _close(x, y, scale, dtype_a, dtype_b):
    x = np.asarray(x)
    y = np.asarray(y)
    eps = _tolerance_eps(scale, dtype_a, dtype_b)
    if eps == 0.0:
        return bool(np.array_equal(x, y, equal_nan=x.dtype.kind == "f" and y.dtype.kind == "f"))
    # float32 arithmetic is enough when neither side is float64 (the tolerance is 4 float32 ulps).
    work = np.float64 if np.float64 in (x.dtype, y.dtype) else np.float32
    pred = x.astype(work) * work(scale)
    y = y.astype(work, copy=False)
    with np.errstate(invalid="ignore"):
        err = np.abs(pred - y)
        ok = err <= work(2 * eps) * np.abs(y) + work(1e-30)
    if ok.all():
        return True
    bad = ~ok
    return bool(np.all(np.isnan(pred[bad]) & np.isnan(y[bad])))


def _exact(view, sb, scale, dtype_a, dtype_b):
    """Whole-tensor check in blocks along the first axis."""
    if view.ndim == 0:
        return _close(view, sb, scale, dtype_a, dtype_b)
    rows = max(1, BLOCK // max(1, view[0].size))
    for start in range(0, view.shape[0], rows):
        if not _close(view[start:start + rows], sb[start:start + rows], scale, dtype_a, dtype_b):
            return False
    return True


def strided_selection(shape, cap):
    """Slices taking every k-th element along the largest axes so the selection holds <= cap elements,
    and whether any axis was strided. Strides (not crops) keep borders, corners and the centre."""
    steps = [1] * len(shape)

    def size():
        n = 1
        for dim, step in zip(shape, steps):
            n *= -(-dim // step)
        return n
    while size() > cap:
        # Stride the axis that currently contributes most elements.
        axis = max(range(len(shape)), key=lambda i: -(-shape[i] // steps[i]))
        if -(-shape[axis] // steps[axis]) <= 1:
            break
        steps[axis] += 1
    return tuple(slice(None, None, s) for s in steps), any(s > 1 for s in steps)


def _screen_selection(shape):
    return strided_selection(shape, SCREEN_CAP)[0]


def _perms(shape_a, shape_b, preferred):
    if len(shape_a) != len(shape_b) or len(shape_a) > MAX_PERMUTED_NDIM:
        return []
    found = [p for p in itertools.permutations(range(len(shape_a)))
             if tuple(shape_a[i] for i in p) == tuple(shape_b)]
    if preferred in found:
        found.remove(preferred)
        found.insert(0, preferred)
    return found


def _declared_perm(letters_a, letters_b):
    if letters_a and letters_b and sorted(letters_a) == sorted(letters_b) and letters_a != letters_b:
        return tuple(letters_a.index(letter) for letter in letters_b)
    return None


def _color_axes(shape_b, letters_b):
    axes = []
    if letters_b and "C" in letters_b and shape_b[letters_b.index("C")] in (3, 4):
        axes.append(letters_b.index("C"))
    if not letters_b or "C" not in letters_b:
        for axis in (len(shape_b) - 1, 0):
            if 0 <= axis < len(shape_b) and shape_b[axis] in (3, 4) and axis not in axes:
                axes.append(axis)
    return axes


def _widening_ok(dtype_a, dtype_b, scale):
    if dtype_a == dtype_b:
        return True
    if scale != 1.0:
        return True  # the exact check decides (0..1 floats x 255 may be stored as uint8)
    return bool(np.can_cast(dtype_a, dtype_b, "safe"))


def _numeric(x):
    try:
        arr = np.asarray(x)
    except Exception:
        return None
    if arr.dtype == np.bool_ or arr.dtype.kind not in "iuf" or arr.size == 0:
        return None
    return arr


def find_mapping(a, b, meta_a=None, meta_b=None, prefer=None):
    """The representation mapping under which B is exactly A, or None.

    Args:
        a, b: the two tensors (A = original, B = port); anything np.asarray accepts.
        meta_a, meta_b: per-tensor meta; declared "color" ("RGB"/"BGR") and "layout" ("HWC",
            "NCHW", ...) are tried first and name the mapping; they never make an inexact mapping pass.
        prefer: a Mapping carried from upstream, tried first (cheap when it still holds).
    Returns:
        Mapping, or None when B equals A outright, or when no exact mapping exists (a real
        difference, or an element scramble such as reshape-instead-of-transpose).
    """
    a, b = _numeric(a), _numeric(b)
    if a is None or b is None or a.size != b.size or a.size < 2:
        return None
    if prefer is not None and prefer.shape_a == a.shape and prefer.shape_b == b.shape and \
            prefer.explains(a, b):
        return prefer
    letters_a_full, letters_b_full = _letters(a.shape, meta_a), _letters(b.shape, meta_b)
    sa, sb = _squeezed(a), _squeezed(b)
    letters_a = _squeeze_letters(a.shape, letters_a_full)
    letters_b = _squeeze_letters(b.shape, letters_b_full)
    if sorted(sa.shape) != sorted(sb.shape):
        return None
    color_a, color_b = _color(meta_a), _color(meta_b)
    identity = tuple(range(sa.ndim))
    perms = _perms(sa.shape, sb.shape, _declared_perm(letters_a, letters_b))
    if tuple(sa.shape) == tuple(sb.shape) and identity not in perms:
        perms.insert(0, identity)
    reversal_first = color_a is not None and color_b is not None and color_a != color_b
    selection = _screen_selection(sb.shape)
    b_sample = np.asarray(sb[selection])
    scales = [k for k in SCALES if _widening_ok(a.dtype, b.dtype, k)]
    for perm in perms:
        view = np.transpose(sa, perm)
        flips = [None] + _color_axes(sb.shape, letters_b)
        if reversal_first:
            flips = flips[1:] + [None]
        for axis in flips:
            candidate = view if axis is None else _flip(view, axis)
            a_sample = np.asarray(candidate[selection])
            for scale in scales:
                if not _close(a_sample, b_sample, scale, a.dtype, b.dtype):
                    continue
                if not _exact(candidate, sb, scale, a.dtype, b.dtype):
                    continue
                mapping = Mapping(perm=perm, channels_reversed=axis is not None, color_axis=axis,
                                  scale=scale, dtype=None if a.dtype == b.dtype else b.dtype,
                                  shape_a=a.shape, shape_b=b.shape, layout_a=letters_a_full,
                                  layout_b=letters_b_full, color_a=color_a, color_b=color_b)
                return None if mapping.is_identity() else mapping
    return None
