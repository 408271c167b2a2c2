"""pyarrow arrays to and from numpy and Python values without importing pandas.

``pa.array``, ``pa.scalar``, ``Array.to_numpy`` and a Python value given to a ``pyarrow.compute``
function all make pyarrow import pandas when it is installed (half a second and ~50 MB). The index
is built at ``bmtrace.stop()``, inside the user's process: these build the arrays from their buffers.

Analysis only (needs pyarrow).
"""
from __future__ import annotations

import functools

import numpy as np
import pyarrow as pa

_NUMPY_TYPES = {"int8": np.int8, "int16": np.int16, "int32": np.int32, "int64": np.int64, "uint8": np.uint8,
                "uint16": np.uint16, "uint32": np.uint32, "uint64": np.uint64, "float": np.float32,
                "double": np.float64}
_ARROW_TYPES = {np.dtype(dtype): pa.type_for_alias(name) for name, dtype in _NUMPY_TYPES.items()}
_MAX_OFFSET = (1 << 31) - 1  # a string array's int32 offsets


def release_unused():
    """Return to the system what pyarrow's allocator keeps after a large read (mimalloc or jemalloc hold
    freed pages for their next allocations, which code allocating through Python never makes): opening
    a 100k-sample run's index left 146 MB of them."""
    pa.default_memory_pool().release_unused()


def from_numpy(values, typ=None):
    """A numeric or boolean 1-d numpy array as an Array without nulls (``typ``: an Arrow type it casts to)."""
    values = np.ascontiguousarray(values)
    if values.dtype == np.bool_:
        data = np.packbits(values, bitorder="little")
        arr = pa.Array.from_buffers(pa.bool_(), len(values), [None, pa.py_buffer(data)])
    else:
        arr = pa.Array.from_buffers(_ARROW_TYPES[values.dtype], len(values), [None, pa.py_buffer(values)])
    return arr if typ is None or arr.type == typ else arr.cast(typ)


def to_numpy(arr):
    """A numeric or boolean Array (or ChunkedArray) as a numpy array; nulls of a floating array are NaN.

    Raises:
        ValueError: other nulls, or a type it does not read.
    """
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    n, start = len(arr), arr.offset
    if pa.types.is_boolean(arr.type):
        if arr.null_count:
            raise ValueError("a boolean array with nulls")
        bits = np.frombuffer(arr.buffers()[1], dtype=np.uint8)
        return np.unpackbits(bits, count=start + n, bitorder="little")[start:].astype(bool)
    dtype = _NUMPY_TYPES.get(str(arr.type))
    if dtype is None:
        raise ValueError("no numpy type for %s" % arr.type)
    values = numbers(arr, dtype)
    if arr.null_count:
        if not np.issubdtype(dtype, np.floating):
            raise ValueError("a %s array with nulls" % arr.type)
        values = np.where(nulls(arr), np.nan, values)
    return values


def numbers(arr, dtype):
    """The values of a numeric Array as ``dtype`` (nulls: whatever its buffer holds), a view of its buffer.

    Raises:
        ValueError: the array's values are not ``dtype``'s width.
    """
    if arr.type.bit_width != np.dtype(dtype).itemsize * 8:
        raise ValueError("index column of type %s, not %s" % (arr.type, dtype))
    buffer = arr.buffers()[1]
    if buffer is None:
        return np.zeros(len(arr), dtype=dtype)
    return np.frombuffer(buffer, dtype=dtype)[arr.offset:arr.offset + len(arr)]


def nulls(arr):
    """Per row of an Array, whether it is null (from its validity bitmap)."""
    if not arr.null_count:
        return np.zeros(len(arr), dtype=bool)
    bits = np.unpackbits(np.frombuffer(arr.buffers()[0], dtype=np.uint8), bitorder="little")
    return bits[arr.offset:arr.offset + len(arr)] == 0


def strings(values):
    """A list of str or None as a StringArray.

    Raises:
        UnicodeEncodeError: a str that is not valid UTF-8 (a lone surrogate).
    """
    n = len(values)
    encoded = [b"" if v is None else v.encode("utf-8") for v in values]
    offsets = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.fromiter(map(len, encoded), dtype=np.int64, count=n), out=offsets[1:])
    if offsets[-1] > _MAX_OFFSET:
        raise ValueError("more than 2 GB of text in one string array")
    missing = [i for i, v in enumerate(values) if v is None]
    return pa.StringArray.from_buffers(n, pa.py_buffer(offsets.astype(np.int32)), pa.py_buffer(b"".join(encoded)),
                                       _validity(n, missing), len(missing))


def repeat(value, n):
    """``n`` times the str ``value`` as a StringArray."""
    return strings([value]).take(from_numpy(np.zeros(n, dtype=np.int64)))


@functools.lru_cache(maxsize=256)
def scalar(value, typ):
    """A pyarrow Scalar of a Python value (None, str, int, float or bool) of Arrow type ``typ`` (the
    same few, for every chunk: kept)."""
    if value is None:
        return pa.nulls(1, typ)[0]
    if pa.types.is_string(typ):
        return strings([value])[0]
    return from_numpy(np.array([value]), typ)[0]


def from_pylist(values, typ):
    """A list of Python values (None for null) as an Array of ``typ``: string, boolean, integer or
    floating, or a list of int64; pyarrow converts any other type (importing pandas).

    Raises:
        UnicodeEncodeError: as ``strings``; OverflowError, TypeError: a value that is not of ``typ``.
    """
    if pa.types.is_string(typ):
        return strings(values)
    if pa.types.is_list(typ) and typ.value_type == pa.int64():
        missing = [i for i, v in enumerate(values) if v is None]
        lengths = np.fromiter((0 if v is None else len(v) for v in values), dtype=np.int64, count=len(values))
        offsets = np.zeros(len(values) + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        items = from_pylist([item for v in values if v is not None for item in v], pa.int64())
        return pa.ListArray.from_buffers(typ, len(values), [_validity(len(values), missing),
                                                            pa.py_buffer(offsets.astype(np.int32))],
                                         len(missing), children=[items])
    dtype = np.bool_ if pa.types.is_boolean(typ) else _NUMPY_TYPES.get(str(typ))
    if dtype is None:
        return pa.array(values, type=typ)
    missing = [i for i, v in enumerate(values) if v is None]
    if missing:
        values = [0 if v is None else v for v in values]
    data = np.array(values, dtype=dtype) if values else np.zeros(0, dtype=dtype)
    arr = from_numpy(data)
    if not missing:
        return arr
    return pa.Array.from_buffers(arr.type, len(arr), [_validity(len(arr), missing), arr.buffers()[1]], len(missing))


def _validity(n, missing):
    if not missing:
        return None
    valid = np.ones(n, dtype=bool)
    valid[missing] = False
    return pa.py_buffer(np.packbits(valid, bitorder="little"))
