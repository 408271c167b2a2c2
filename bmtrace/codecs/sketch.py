"""A small, deterministic sketch of a tensor, kept in stats mode where the payload is not.

The sampled positions depend only on the shape: the 2**ndim corners, then a Weyl sequence over the
flat (C-order) index, ``i * stride mod size`` with a stride near ``0.618 * size`` and coprime to it.
Both runs of a diff therefore sample the same elements, and a shorter sketch (a wider dtype keeps
fewer values) is a prefix of a longer one. A tensor no larger than the sketch is kept whole.

Image-like tensors (HWC/NHWC or CHW/NCHW with 1-4 channels) also get per-channel min/max/mean/std,
taken over a fixed grid of at most ``CHANNEL_PIXELS`` pixels: the same pixels on both sides, so each
per-channel difference is still a lower bound on the max abs diff.

Values are stored as base64 of their little-endian bytes in the tensor's own dtype, so that a
sampled difference is exact. A sketch adds ~1.4 KB to the journal entry (2.8 KB for 8-byte dtypes):
1,024 values of 1 byte, 512 of 2 bytes, 256 of 4 or 8 bytes. Journals of long runs hold one per
tensor and JSON-encoding a line costs time in proportion to its length (measured: ~10 us per KB
on a busy 2-core machine), so the size is a trade between recording cost and how much of a tensor
a stats-mode diff sees.

Recording path: stdlib and numpy only, Python 3.8.
"""
from __future__ import annotations

import base64
import math
import os
import threading

import numpy as np

SCHEME = 1                   # bump when positions change: sketches of other schemes are not compared
VALUE_BYTES = 1024           # raw bytes of sampled values per tensor (base64 adds a third)
MAX_VALUES = 4096
MIN_VALUES = 256
CHANNEL_PIXELS = 1 << 11
_GOLDEN = 0.6180339887498949
_MAX_CORNER_DIMS = 6

_cache_lock = threading.Lock()


def _new_cache_lock():
    """In a forked child: a lock another thread held at the fork would stay held there forever (a diff
    forks children, bmtrace.diff.workers; so may the user's program)."""
    global _cache_lock
    _cache_lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_new_cache_lock)
_position_cache = {}         # (shape, k) -> (flat positions, unravelled index tuple)
_CACHE_LIMIT = 256


def sample_count(size, itemsize):
    """How many values a sketch of ``size`` elements of ``itemsize`` bytes keeps (all up to 1 KB)."""
    if size * itemsize <= VALUE_BYTES:
        return int(size)
    return int(min(size, MAX_VALUES, max(MIN_VALUES, VALUE_BYTES // max(int(itemsize), 1))))


def positions(shape, k):
    """Flat C-order positions sampled by a ``k``-value sketch of ``shape`` (all of them if k >= size)."""
    return _positions(tuple(int(d) for d in shape), int(k))[0]


def _positions(shape, k):
    key = (shape, k)
    hit = _position_cache.get(key)
    if hit is not None:
        return hit
    size = int(np.prod(shape, dtype=np.int64)) if shape else 1
    if k >= size:
        flat = np.arange(size, dtype=np.int64)
    else:
        corners = _corners(shape)[:k]
        stride = max(1, int(round(size * _GOLDEN)))
        while math.gcd(stride, size) != 1:
            stride += 1
        weyl = (np.arange(k - len(corners), dtype=np.int64) * stride) % size
        flat = np.concatenate([corners, weyl])
    index = np.unravel_index(flat, shape) if shape else ()
    with _cache_lock:
        if len(_position_cache) >= _CACHE_LIMIT:
            _position_cache.clear()
        _position_cache[key] = (flat, index)
    return flat, index


def _corners(shape):
    if not shape or len(shape) > _MAX_CORNER_DIMS:
        return np.zeros(0, np.int64)
    grids = np.meshgrid(*[np.unique([0, d - 1]) for d in shape], indexing="ij")
    return np.ravel_multi_index([g.reshape(-1) for g in grids], shape).astype(np.int64)


def channel_axis(shape):
    """Axis of 1-4 colour channels for HWC/NHWC/CHW/NCHW shapes, else None (last axis wins ties)."""
    ndim = len(shape)
    if ndim not in (3, 4):
        return None
    if 1 <= shape[-1] <= 4 and shape[-2] > 4 and shape[-3] > 4:
        return ndim - 1
    if 1 <= shape[-3] <= 4 and shape[-1] > 4 and shape[-2] > 4:
        return ndim - 3
    return None


def _numeric(arr):
    kind = arr.dtype.kind
    if kind == "b":
        return arr.view(np.uint8)
    if kind in "iuf" and arr.dtype.names is None:
        return arr
    return None


def sketch(arr):
    """The sketch of ``arr`` as a JSON-ready dict, or None for empty or non-numeric (complex, text,
    object, structured) arrays.

    Keys: ``scheme``, ``k`` (values kept), ``dtype`` (of the values), ``values`` (base64),
    and for image-like tensors ``channel_axis`` and ``channels`` (``{"min", "max", "mean", "std"}``
    lists, one entry per channel, over a grid of ``channel_step``-spaced pixels).
    """
    arr = np.asarray(arr)
    data = _numeric(arr)
    if data is None or data.size == 0 or data.ndim == 0:
        return None
    k = sample_count(data.size, data.dtype.itemsize)
    complete = k >= data.size
    if complete:
        values = data.reshape(-1)  # kept whole, in C order: no position lookup
    elif data.flags.c_contiguous:
        values = data.reshape(-1).take(_positions(tuple(data.shape), k)[0])
    else:
        values = data[_positions(tuple(data.shape), k)[1]]
    little = values.dtype.newbyteorder("<")
    if values.dtype != little:
        values = values.astype(little)
    out = {"scheme": SCHEME, "k": k, "dtype": values.dtype.str,
           "values": base64.b64encode(np.ascontiguousarray(values).tobytes()).decode("ascii")}
    axis = channel_axis(data.shape)
    if axis is not None and not complete:  # a complete sketch has every value: the diff derives them
        channels = channel_stats(data, axis)
        if channels is not None:
            out.update(channels)
    return out


def channel_grid(shape, axis):
    """The step and the slices selecting the per-channel statistics grid of ``shape``."""
    key = (tuple(shape), axis)
    hit = _grid_cache.get(key)
    if hit is None:
        hit = _channel_grid(*key)
        with _cache_lock:
            if len(_grid_cache) >= _CACHE_LIMIT:
                _grid_cache.clear()
            _grid_cache[key] = hit
    return hit


_grid_cache = {}  # (shape, axis) -> (step, slices): the same few shapes come back every sample


def _channel_grid(shape, axis):
    # dims of 1 are left out so that (1, H, W, C) and (H, W, C) get the same grid
    others = [d for i, d in enumerate(shape) if i != axis and d > 1] or [1]
    pixels = int(np.prod(others, dtype=np.int64))
    step = 1
    if pixels > CHANNEL_PIXELS:
        step = max(1, int((pixels / CHANNEL_PIXELS) ** (1.0 / len(others))))
        while int(np.prod([-(-d // step) for d in others], dtype=np.int64)) > CHANNEL_PIXELS:
            step += 1
    slices = tuple(slice(None) if i == axis else slice(None, None, step) for i in range(len(shape)))
    return step, slices


def channel_stats(data, axis):
    """``{"channel_axis", "channel_step", "channels"}`` over the channel grid of ``data``, or None."""
    step, slices = channel_grid(data.shape, axis)
    grid = data[slices]
    # channels first and contiguous: each reduction below runs along one long row
    order = (axis,) + tuple(i for i in range(grid.ndim) if i != axis)
    rows = grid.transpose(order).reshape(grid.shape[axis], -1).astype(np.float64, order="C")
    if rows.size == 0:
        return None
    low, high = rows.min(axis=1), rows.max(axis=1)
    if data.dtype.kind == "f" and not (np.isfinite(low).all() and np.isfinite(high).all()):
        return None  # NaN/Inf: the global counts already tell the runs apart
    with np.errstate(over="ignore", invalid="ignore"):  # values near the float64 limit: inf, not a warning
        mean = rows.sum(axis=1) / rows.shape[1]
        centred = rows - mean[:, None]
        np.multiply(centred, centred, out=centred)
        std = np.sqrt(centred.sum(axis=1) / rows.shape[1])
    return {"channel_axis": int(axis), "channel_step": int(step),
            "channels": {"min": low.tolist(), "max": high.tolist(), "mean": mean.tolist(), "std": std.tolist()}}


def element_count(shape):
    """Elements in ``shape`` (a tuple of ints): what ``np.prod(shape, dtype=np.int64)`` gives, without a
    numpy call when the product fits in int64 (it wraps around otherwise, and a trace is untrusted data)."""
    size = math.prod(shape)
    return size if -(1 << 63) <= size < (1 << 63) else int(np.prod(shape, dtype=np.int64))


def decode_values(doc, shape):
    """The sampled values of a recorded sketch as a 1-D array, or None when ``doc`` is not a valid
    sketch of ``shape`` (a tuple of ints; a trace is untrusted data: anything malformed is ignored, never
    trusted)."""
    if not isinstance(doc, dict) or doc.get("scheme") != SCHEME:
        return None
    try:
        k = int(doc["k"])
        dtype = _value_dtype(doc["dtype"])
        if dtype is None or k <= 0:
            return None
        raw = base64.b64decode(doc["values"], validate=True)
        if len(raw) != k * dtype.itemsize or k > element_count(shape):
            return None
        return np.frombuffer(raw, dtype=dtype)
    except (KeyError, TypeError, ValueError):
        return None


def whole_array(doc, shape, dtype):
    """The tensor itself, rebuilt from a recorded sketch that kept every element (a tensor of at most
    ``VALUE_BYTES`` bytes), or None: a larger tensor's sketch, or anything malformed (untrusted data).
    ``dtype``: the record's dtype (a bool tensor's sketch holds its bytes)."""
    return as_whole(decode_values(doc, shape), shape, dtype)


def as_whole(values, shape, dtype):
    """``whole_array`` of a sketch's decoded ``values`` (``decode_values``)."""
    if values is None or values.size != element_count(shape):
        return None
    try:
        target = np.dtype(str(dtype))
    except (TypeError, ValueError):
        return None
    kept = (values.dtype.kind, values.dtype.itemsize)  # (little-endian, as the sketch stores values)
    if target.names is not None or kept != (("u", 1) if target.kind == "b" else (target.kind, target.itemsize)):
        return None  # not the dtype this sketch's values were taken in
    return values.astype(target).reshape(shape)


def _value_dtype(name):
    """The numpy dtype a sketch's "dtype" field names when it is a plain integer or float one, else None
    (raises TypeError/ValueError for what is no dtype at all). Kept per name: a run uses a few."""
    try:
        return _value_dtypes[name]
    except (KeyError, TypeError):  # not seen yet, or not a string
        pass
    dtype = np.dtype(str(name))
    if dtype.kind not in "iuf" or dtype.names is not None:
        dtype = None
    if type(name) is str:
        with _cache_lock:
            if len(_value_dtypes) >= _CACHE_LIMIT:
                _value_dtypes.clear()
            _value_dtypes[name] = dtype
    return dtype


_value_dtypes = {}  # sketch "dtype" text -> its dtype, or None when no sketch may hold that dtype
