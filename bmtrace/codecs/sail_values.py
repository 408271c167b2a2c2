"""sail objects (Tensor, BMImage, BMImageArray*) <-> numpy arrays plus metadata.

sail is only installable on SOPHON devices, so nothing here imports it: objects are recognised by
their type name and duck typing. Behaviour follows the sail v3.10 Python API
(sophgo/sophon-sail, see /work/shared/design/SOPHON.md):

- ``Tensor.asnumpy()`` returns FP16 and BF16 data as uint16 bit patterns;
- ``BMImage.asnumpy()`` keeps the pixel format: packed -> (h, w, 3), planar -> (3, h, w),
  GRAY -> (1, h, w), YUV/NV formats -> one flat array.
"""
from __future__ import annotations

from typing import Optional, Tuple

import numpy as np

from .base import Codec
from .leaf import Leaf

# sail.Dtype names -> what the uint16/raw buffer from asnumpy() means.
_HALF_TYPES = ("BM_FLOAT16", "BM_BFLOAT16")
_YUV_PREFIXES = ("FORMAT_YUV", "FORMAT_NV", "FORMAT_YVU")


def enum_name(value) -> Optional[str]:
    """Name of a pybind11 enum value ("FORMAT_BGR_PLANAR"), or None if it has none."""
    if value is None:
        return None
    name = getattr(value, "name", None)
    if isinstance(name, str):
        return name
    text = str(value)
    # pybind11 enums print as "Format.FORMAT_BGR_PLANAR".
    if "." in text and not text.replace(".", "").isdigit():
        return text.rsplit(".", 1)[1]
    return None


def _type_name(obj) -> str:
    return type(obj).__name__


def _call(obj, attr, default=None):
    fn = getattr(obj, attr, None)
    if fn is None:
        return default
    try:
        return fn() if callable(fn) else fn
    except Exception:  # a getter failing must not break recording
        return default


def is_sail_tensor(obj) -> bool:
    """sail.Tensor: named Tensor, has asnumpy() and callable shape()/dtype() (torch.Tensor has no asnumpy)."""
    return (_type_name(obj) == "Tensor" and callable(getattr(obj, "asnumpy", None))
            and callable(getattr(obj, "shape", None)))


def is_sail_bmimage(obj) -> bool:
    """sail.BMImage: width()/height()/format() getters and asnumpy()."""
    return (_type_name(obj) == "BMImage" and callable(getattr(obj, "width", None))
            and callable(getattr(obj, "format", None)))


def is_sail_bmimage_array(obj) -> bool:
    """sail.BMImageArray{N}D: a fixed-size batch of BMImages."""
    return _type_name(obj).startswith("BMImageArray") and hasattr(obj, "__getitem__")


def is_sail_object(obj) -> bool:
    """True for the sail value types this module converts."""
    return is_sail_tensor(obj) or is_sail_bmimage(obj) or is_sail_bmimage_array(obj)


def bf16_to_float32(bits: np.ndarray) -> np.ndarray:
    """bfloat16 bit patterns (uint16) -> float32: they are the upper half of a float32."""
    return (np.asarray(bits, dtype=np.uint16).astype(np.uint32) << 16).view(np.float32)


def _tensor_to_array(obj) -> Tuple[np.ndarray, dict]:
    dtype = enum_name(_call(obj, "dtype"))
    array = np.asarray(obj.asnumpy())
    meta = {"sail_type": "Tensor"}
    if dtype:
        meta["sail_dtype"] = dtype
    if dtype == "BM_FLOAT16" and array.dtype == np.uint16:
        array = array.view(np.float16)
    elif dtype == "BM_BFLOAT16" and array.dtype == np.uint16:
        # numpy has no bfloat16; float32 holds every bf16 value exactly.
        array = bf16_to_float32(array)
        meta["converted_from"] = "bfloat16"
    return array, meta


def _image_layout(fmt: Optional[str], array: np.ndarray) -> Tuple[str, Optional[str]]:
    """(layout, colour) from the sail format name, checked against the array's shape."""
    colour = None
    if fmt:
        if fmt.startswith(_YUV_PREFIXES):
            return "flat" if array.ndim == 1 else "planes", fmt[len("FORMAT_"):]
        if fmt == "FORMAT_GRAY":
            colour = "GRAY"
        elif "BGR" in fmt:
            colour = "BGR"
        elif "RGB" in fmt:
            colour = "RGB"
    if array.ndim == 3 and array.shape[-1] in (3, 4) and array.shape[0] not in (1, 3):
        layout = "HWC"
    elif array.ndim == 3 and array.shape[0] in (1, 3):
        layout = "CHW"
        if fmt and "PACKED" in fmt and array.shape[-1] == 3:
            layout = "HWC"  # 3x3 images are ambiguous by shape alone: trust the format
    elif array.ndim == 2:
        layout = "HW"
    elif array.ndim == 1:
        layout = "flat"
    else:
        layout = "unknown"
    return layout, colour


def _bmimage_to_array(obj) -> Tuple[np.ndarray, dict]:
    array = np.asarray(obj.asnumpy())
    fmt = enum_name(_call(obj, "format"))
    layout, colour = _image_layout(fmt, array)
    meta = {"sail_type": "BMImage", "layout": layout}
    if fmt:
        meta["format"] = fmt
        meta["planar"] = "PLANAR" in fmt or "SEPARATE" in fmt or fmt == "FORMAT_GRAY"
    if colour:
        meta["color"] = colour
    width, height = _call(obj, "width"), _call(obj, "height")
    if width is not None and height is not None:
        meta["width"], meta["height"] = int(width), int(height)
    dtype = enum_name(_call(obj, "dtype"))
    if dtype:
        meta["sail_dtype"] = dtype
    return array, meta


def _bmimage_array_to_array(obj) -> Tuple[np.ndarray, dict]:
    images = []
    count = len(obj) if hasattr(obj, "__len__") else None
    if count is None:
        # BMImageArray{N}D's batch size is in its name.
        digits = "".join(ch for ch in _type_name(obj) if ch.isdigit())
        count = int(digits) if digits else 0
    for i in range(count):
        images.append(_bmimage_to_array(obj[i]))
    if not images:
        return np.zeros((0,), np.uint8), {"sail_type": _type_name(obj), "batch": 0}
    arrays = [a for a, _ in images]
    meta = dict(images[0][1])
    meta["sail_type"] = _type_name(obj)
    meta["batch"] = len(arrays)
    if all(a.shape == arrays[0].shape and a.dtype == arrays[0].dtype for a in arrays):
        stacked = np.stack(arrays)
        if meta.get("layout") in ("CHW", "HWC", "HW"):
            meta["layout"] = "N" + meta["layout"]
        return stacked, meta
    # Mixed sizes cannot stack: keep them flat, concatenated, with the shapes in meta.
    meta["layout"] = "ragged"
    meta["shapes"] = [list(a.shape) for a in arrays]
    return np.concatenate([a.ravel() for a in arrays]), meta


def sail_to_array(obj) -> Optional[Tuple[np.ndarray, dict]]:
    """Convert a sail Tensor / BMImage / BMImageArray into (array, meta); None for other objects.

    Meta keys: ``sail_type``; for tensors ``sail_dtype``; for images ``format`` (sail.Format name),
    ``layout`` ("CHW", "HWC", "NCHW", "flat" for YUV), ``color`` ("BGR", "RGB", "GRAY"),
    ``planar``, ``width``, ``height``.

    Example::

        array, meta = sail_to_array(bmimg)   # (3, h, w) uint8, {"format": "FORMAT_BGR_PLANAR", ...}
    """
    if is_sail_tensor(obj):
        return _tensor_to_array(obj)
    if is_sail_bmimage(obj):
        return _bmimage_to_array(obj)
    if is_sail_bmimage_array(obj):
        return _bmimage_array_to_array(obj)
    return None


class SailCodec(Codec):
    """sail Tensor, BMImage and BMImageArray values, recognised by type name and duck typing.

    Decoding gives the host array ``asnumpy()`` returned (float16/bfloat16 already converted), with the
    layout in meta: a sail object cannot be rebuilt off the device, and on it only with a device
    handle and bmcv that a recorded leaf does not have.
    """

    name = "sail"

    def encode(self, value, name, meta):
        kind = type(value).__name__
        if kind != "Tensor" and kind != "BMImage" and not kind.startswith("BMImageArray"):
            return None  # cheap refusal of the common values, before the duck-typing checks
        if not is_sail_object(value):
            return None
        array, merged = sail_to_array(value)
        merged.update(meta)
        return Leaf.of_array(name, array, merged)

    def decodes(self, leaf, meta):
        return leaf.kind == "array" and "sail_type" in meta

    def decode(self, leaf, meta):
        return leaf.load()
