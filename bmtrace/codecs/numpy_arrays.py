"""numpy arrays, masked arrays and other objects that offer ``__array__``."""
from __future__ import annotations

import numpy as np

from .base import Codec, stable_repr, type_name
from .leaf import Leaf


class MaskedArrayCodec(Codec):
    """np.ma.MaskedArray: its data is recorded (decoded by NumpyCodec as a plain array) and the note
    says how many elements were masked, since the mask itself is not kept."""

    name = "masked_array"

    def encode(self, value, name, meta):
        if not isinstance(value, np.ma.MaskedArray):
            return None
        data = np.ma.getdata(value)
        if data.dtype.hasobject:
            return None  # NumpyCodec notes object arrays
        masked = int(np.ma.count_masked(value))
        return Leaf.of_array(name, data, meta,
                             note="masked array, %d of %d elements masked: data recorded, mask not kept "
                                  "(masked positions hold their underlying values)" % (masked, data.size))


class NumpyCodec(Codec):
    """np.ndarray (any dtype but object), and the array leaves no more specific codec claims."""

    name = "numpy"

    def encode(self, value, name, meta):
        if not isinstance(value, np.ndarray):
            return None
        if value.dtype.hasobject:
            return Leaf.of_plain(name, "object", stable_repr(value), meta, note="object-dtype array not recorded")
        return Leaf.of_array(name, value, meta)

    def decodes(self, leaf, meta):
        return leaf.kind == "array"

    def decode(self, leaf, meta):
        return leaf.load()


class ArrayLikeCodec(Codec):
    """Any other object with ``__array__`` (e.g. an xarray or a custom buffer): recorded as
    ``np.asarray(value)`` with its type name in ``meta["source_type"]``; decoded as a plain array by
    NumpyCodec, since the original type is not known to be rebuildable."""

    name = "array_like"

    def encode(self, value, name, meta):
        if isinstance(value, type) or not hasattr(value, "__array__"):
            return None
        array = np.asarray(value)
        if array.dtype.hasobject:
            return None  # left to OpaqueCodec
        merged = {"source_type": type_name(value)}
        merged.update(meta)
        return Leaf.of_array(name, array, merged)
