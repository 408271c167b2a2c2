"""Turn any stage value into named leaves: arrays with metadata, or small plain values.

Frameworks are recognised through ``sys.modules`` and type names, never imported to check a type,
so recording keeps to numpy + wrapt on device images.
"""
from __future__ import annotations

import sys

import numpy as np

from .leaf import Leaf

__all__ = ["Leaf", "flatten"]

MAX_DEPTH = 8
MAX_LEAVES = 1000
REPR_LIMIT = 200


def flatten(value, name, meta=None):
    """Return the list of leaves of ``value``, each named by its path below ``name``.

    Each leaf also keeps ``path``: the containers and keys leading to it, so replay can rebuild
    the original structure (dict, list, tuple) from the leaves.
    """
    leaves = []
    _walk(value, name, dict(meta or {}), leaves, ())
    return leaves


def _walk(value, name, meta, leaves, path):
    if len(leaves) >= MAX_LEAVES:
        if not leaves[-1].note or "truncated" not in leaves[-1].note:
            leaves.append(Leaf.of_plain(name, "object", "...", meta, note="more than %d leaves: truncated" % MAX_LEAVES))
        return
    try:
        leaf = _encode_leaf(value, name, meta)
    except Exception as exc:  # a value we cannot record is noted, never fatal
        leaf = Leaf.of_plain(name, "object", _short_repr(value), meta,
                             note="could not record %s: %s: %s" % (type(value).__name__, type(exc).__name__, exc))
    if leaf is None and len(path) >= MAX_DEPTH:
        leaf = Leaf.of_plain(name, "object", _short_repr(value), meta, note="nested deeper than %d" % MAX_DEPTH)
    if leaf is None and len(value) == 0:
        leaf = Leaf.of_plain(name, "object", repr(value), meta, note="empty " + type(value).__name__)
        leaf.container = _container_kind(value)
    if leaf is not None:
        leaf.path = list(path)
        leaves.append(leaf)
        return
    container = _container_kind(value)
    if container == "dict":
        for key, item in value.items():
            _walk(item, "%s[%r]" % (name, key), meta, leaves, path + ((container, _json_key(key)),))
    elif container == "namedtuple":
        for field, item in zip(value._fields, value):
            _walk(item, "%s.%s" % (name, field), meta, leaves, path + ((container, field),))
    else:
        for index, item in enumerate(value):
            _walk(item, "%s[%d]" % (name, index), meta, leaves, path + ((container, index),))


def _container_kind(value):
    if isinstance(value, dict):
        return "dict"
    if isinstance(value, tuple):
        return "namedtuple" if hasattr(value, "_fields") else "tuple"
    return "list"


def _json_key(key):
    return key if isinstance(key, (str, int, float, bool)) or key is None else repr(key)


def _encode_leaf(value, name, meta):
    """Encode a non-container value; None means ``value`` is a container to walk."""
    if value is None:
        return Leaf.of_plain(name, "none", None, meta)
    if isinstance(value, np.ndarray):
        return _array_leaf(name, value, meta)
    if isinstance(value, (bool, int, float, complex, np.generic)):
        return Leaf.of_scalar(name, value, meta)
    if isinstance(value, str):
        return Leaf.of_plain(name, "str", value if len(value) <= 10000 else value[:10000], meta,
                          note=None if len(value) <= 10000 else "string of %d chars truncated" % len(value))
    if isinstance(value, (bytes, bytearray, memoryview)):
        return Leaf.of_array(name, np.frombuffer(bytes(value), dtype=np.uint8), meta, kind="bytes")
    if isinstance(value, (dict, list, tuple)):
        return None
    converted = _framework_value(value)
    if converted is not None:
        array, extra_meta, note = converted
        merged = dict(extra_meta)
        merged.update(meta)
        return Leaf.of_array(name, array, merged, note=note)
    return Leaf.of_plain(name, "object", _short_repr(value), meta, note="unrecorded type %s" % _type_name(value))


def _array_leaf(name, arr, meta):
    if arr.dtype.hasobject:
        return Leaf.of_plain(name, "object", _short_repr(arr), meta, note="object-dtype array not recorded")
    return Leaf.of_array(name, arr, meta)


def _framework_value(value):
    """(array, meta, note) for torch tensors, PIL images, sail objects; None for anything else."""
    module = type(value).__module__ or ""
    root = module.split(".", 1)[0]
    if root == "torch" and "torch" in sys.modules:
        from .torch_values import torch_to_array
        return torch_to_array(value)
    if root == "PIL" and "PIL.Image" in sys.modules and isinstance(value, sys.modules["PIL.Image"].Image):
        from .pil_values import pil_to_array
        return pil_to_array(value)
    if _looks_like_sail(value, module):
        from ..sophon.values import sail_to_array  # numpy-only; sail itself is never imported
        result = sail_to_array(value)
        if result is not None:
            array, meta = result
            return array, meta, None
    if hasattr(value, "__array__") and not isinstance(value, type):
        return np.asarray(value), {"source_type": _type_name(value)}, None
    return None


def _looks_like_sail(value, module):
    # sail is a compiled module named "sophon.sail"; fakes in tests live elsewhere but keep the names.
    return "sail" in module or type(value).__name__ in ("Tensor", "BMImage") or type(value).__name__.startswith("BMImageArray")


def _type_name(value):
    cls = type(value)
    return "%s.%s" % (cls.__module__, cls.__qualname__)


def _short_repr(value):
    try:
        text = repr(value)
    except Exception as exc:
        text = "<%s; repr failed: %s>" % (_type_name(value), exc)
    return text if len(text) <= REPR_LIMIT else text[:REPR_LIMIT] + "..."
