"""A recorded leaf value: an array (with stats and hash) or a small plain value."""
from __future__ import annotations

import numpy as np

from .stats import describe_array


class Leaf:
    """One named value of a stage call, ready for the store."""

    __slots__ = ("name", "kind", "array", "value", "meta", "note", "path", "container", "py_type")

    def __init__(self, name, kind, array=None, value=None, meta=None, note=None):
        self.name, self.kind, self.array, self.value = name, kind, array, value
        self.meta, self.note = meta or {}, note
        self.path = ()          # [(container, key), ...] from the root value down to this leaf
        self.container = None   # "list"/"tuple"/"dict" for an empty container leaf
        self.py_type = None     # "int"/"float"/"bool"/"complex" for Python scalars

    @classmethod
    def of_array(cls, name, arr, meta, kind="array", note=None):
        return cls(name, kind, array=arr, meta=meta, note=note)

    @classmethod
    def of_scalar(cls, name, value, meta):
        arr = np.asarray(value)
        leaf = cls(name, "scalar", array=arr, value=arr.item(), meta=meta)
        if not isinstance(value, np.generic):
            leaf.py_type = type(value).__name__
        return leaf

    @classmethod
    def of_plain(cls, name, kind, value, meta, note=None):
        return cls(name, kind, value=value, meta=meta, note=note)

    def describe(self, described=None):
        """The JSON-ready description of this leaf, without any payload reference.

        ``described`` is the array's ``(content hash, statistics)``: the writer takes them
        (``stats.describe_array``, or those of identical content described before).
        """
        record = {"name": self.name, "kind": self.kind, "meta": self.meta, "note": self.note}
        if self.array is not None:
            arr = self.array
            record["dtype"] = _dtype_name(arr.dtype)
            record["shape"] = list(arr.shape)
            digest, stats = described if described is not None else describe_array(arr)
            record["hash"] = digest
            record.update(stats)
        if self.kind != "array" and self.kind != "bytes":
            record["value"] = _json_value(self.value)
        if self.path:
            record["path"] = [list(step) for step in self.path]
        if self.container:
            record["container"] = self.container
        if self.py_type:
            record["py_type"] = self.py_type
        return record


_dtype_names = {}  # numpy computes dtype.name in Python, at about 10 us a call


def _dtype_name(dtype):
    name = _dtype_names.get(dtype)
    if name is None:
        name = dtype.name if dtype.names is None else str(dtype)
        if len(_dtype_names) < 256:
            _dtype_names[dtype] = name
    return name


def _json_value(value):
    if isinstance(value, complex):
        return [value.real, value.imag]
    return value
