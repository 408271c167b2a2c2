"""Numbers: Python and numpy scalars, and Python ints too large for any numpy integer."""
from __future__ import annotations

import numpy as np

from .base import Codec
from .leaf import Leaf

_PY_SCALARS = (bool, int, float, complex)
# np.asarray() keeps an int exactly as int64 or uint64; beyond that it makes an object array.
_INT_MIN, _INT_MAX = -(1 << 63), (1 << 64) - 1


class ScalarCodec(Codec):
    """bool/int/float/complex and numpy scalars: a 0-d array plus the plain value; Python scalars keep
    their Python type (``py_type``) so they come back as Python, not numpy, numbers."""

    name = "scalar"

    def encode(self, value, name, meta):
        if isinstance(value, np.generic):
            return None if value.dtype.hasobject else Leaf.of_scalar(name, value, meta)
        if isinstance(value, _PY_SCALARS):
            if isinstance(value, int) and not _INT_MIN <= value <= _INT_MAX:
                return None  # left to BigIntCodec
            return Leaf.of_scalar(name, value, meta)
        return None

    def decodes(self, leaf, meta):
        return leaf.kind == "scalar"

    def decode(self, leaf, meta):
        value = leaf.value
        if leaf.py_type == "complex" or (isinstance(value, list) and len(value) == 2):
            value = complex(*value)
        if leaf.py_type in ("int", "float", "bool", "complex"):
            return value
        return np.dtype(leaf.dtype).type(value)


class BigIntCodec(Codec):
    """A Python int beyond the int64/uint64 range: kept exactly as its decimal text."""

    name = "bigint"

    def encode(self, value, name, meta):
        if not isinstance(value, int) or isinstance(value, bool) or _INT_MIN <= value <= _INT_MAX:
            return None
        leaf = Leaf.of_plain(name, "object", str(int(value)), meta,
                             note="integer beyond the 64-bit range: recorded exactly as decimal text")
        leaf.py_type = "int"
        return leaf

    def decodes(self, leaf, meta):
        return leaf.kind == "object" and leaf.py_type == "int"

    def decode(self, leaf, meta):
        return int(leaf.value)
