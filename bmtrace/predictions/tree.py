"""Rebuild a stage's output values from its recorded leaves (``out[0]['bbox'][2]`` -> nested lists/dicts).

Leaf names are written by bmtrace.codecs: a root name, then ``[repr(key)]`` for dict keys and list
indices and ``.field`` for namedtuple fields. A quoted key without quotes or backslashes inside is its
own text; any other is read by ast.literal_eval, which evaluates literals and never runs code.
"""
from __future__ import annotations

import ast
from collections import OrderedDict

import numpy as np

_EMPTY = {"list": list, "tuple": tuple, "dict": dict, "namedtuple": tuple}


def parse_name(name):
    """(root, [key, ...]) of a leaf name; keys are ints (list indices) or strings."""
    i = 0
    while i < len(name) and name[i] not in "[.":
        i += 1
    root, keys = name[:i], []
    while i < len(name):
        if name[i] == ".":
            j = i + 1
            while j < len(name) and name[j] not in "[.":
                j += 1
            keys.append(name[i + 1:j])
            i = j
            continue
        end = _closing_bracket(name, i)
        text = name[i + 1:end]
        if text[:1] in ("'", '"'):
            # a plain quoted key is its own text; anything with escapes or other quotes is parsed
            middle = text[1:-1]
            plain = len(text) >= 2 and text[-1] == text[0] and not any(c in middle for c in "\\'\"")
            keys.append(middle if plain else ast.literal_eval(text))
        else:
            try:
                keys.append(int(text))
            except ValueError:
                keys.append(text)
        i = end + 1
    return root, keys


def _closing_bracket(name, start):
    """Index of the ``]`` closing the key that opens at ``name[start] == '['``, skipping quoted text."""
    j = start + 1
    quote = name[j] if j < len(name) and name[j] in "'\"" else None
    if quote:
        j += 1
        while j < len(name) and name[j] != quote:
            j += 2 if name[j] == "\\" else 1
        j += 1
    while j < len(name) and name[j] != "]":
        j += 1
    if j >= len(name):
        raise ValueError("leaf name %r has an unclosed '['" % name)
    return j


def build_tree(leaves):
    """Nested values from a mapping leaf name -> value: OrderedDict root -> value.

    Dicts whose keys are exactly 0..n-1 become lists (the codec names list items ``[i]``).
    """
    roots = OrderedDict()
    for name, value in leaves.items():
        root, keys = parse_name(str(name))
        if not keys:
            roots[root] = value
            continue
        node = roots.get(root)
        if not isinstance(node, OrderedDict):
            node = roots[root] = OrderedDict()
        for key in keys[:-1]:
            child = node.get(key)
            if not isinstance(child, OrderedDict):
                child = node[key] = OrderedDict()
            node = child
        node[keys[-1]] = value
    return OrderedDict((root, _listify(value)) for root, value in roots.items())


def _listify(node):
    if not isinstance(node, OrderedDict):
        return node
    items = OrderedDict((key, _listify(value)) for key, value in node.items())
    if items and list(items) == list(range(len(items))):
        return list(items.values())
    return dict(items)


def call_outputs(call):
    """A reader Call's outputs as a mapping leaf name -> value (arrays loaded, plain values as recorded)."""
    return OrderedDict((tensor.name, tensor_value(tensor)) for tensor in call.outputs)


def call_meta(call):
    """The prediction-related meta declared on a call's outputs ("kind", "box_format", "columns", ...)."""
    meta = dict(getattr(call, "meta", None) or {})
    for tensor in call.outputs:
        for key, value in (tensor.meta or {}).items():
            meta.setdefault(key, value)
    return meta


def tensor_value(tensor):
    """The value of one recorded leaf: an array, a Python scalar, a string, None or an empty container."""
    if tensor.kind == "scalar":
        value = tensor.value
        return value if tensor.py_type else np.asarray(value, dtype=tensor.dtype)[()]
    if tensor.kind in ("array", "bytes"):
        if tensor.payload is None and getattr(tensor, "sketch", None) and tensor.shape is not None:
            # stats mode: a small output (logits of a few classes, a few boxes) was kept whole in its sketch
            from ..codecs.sketch import whole_array

            whole = whole_array(tensor.sketch, tuple(tensor.shape), tensor.dtype)
            if whole is not None:
                return whole
        from ..compare.records import load_tensor  # inside a diff: the arrays it already loaded

        return load_tensor(tensor)
    if tensor.container in _EMPTY:
        return _EMPTY[tensor.container]()
    return tensor.value
