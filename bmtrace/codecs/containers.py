"""dict, list, tuple and namedtuple: walked into leaves when recording, nested back when decoding.

Each leaf keeps ``path``: the (container kind, key) steps from the root value down to it, so the
original structure can be rebuilt from the leaves alone.
"""
from __future__ import annotations

import itertools
from collections import OrderedDict

from .base import mask_addresses

EMPTY = {"list": list, "tuple": tuple, "namedtuple": tuple, "dict": dict}


def kind_of(value):
    """"dict"/"namedtuple"/"tuple"/"list" for the containers walked into, else None."""
    if isinstance(value, dict):
        return "dict"
    if isinstance(value, tuple):
        return "namedtuple" if hasattr(value, "_fields") else "tuple"
    if isinstance(value, list):
        return "list"
    return None


def entries(value, kind, limit):
    """Up to ``limit`` ``(path key, name suffix, item)`` of a container, in its iteration order.

    Raises whatever the container's own ``items``/``__iter__`` raise; the caller notes it.
    """
    if kind == "dict":
        pairs = itertools.islice(value.items(), limit)
        return [(_json_key(key), "[%s]" % mask_addresses(repr(key)), item) for key, item in pairs]
    if kind == "namedtuple":
        return [(field, "." + field, item) for field, item in itertools.islice(zip(value._fields, value), limit)]
    return [(index, "[%d]" % index, item) for index, item in enumerate(itertools.islice(value, limit))]


def _json_key(key):
    if isinstance(key, (str, int, float, bool)) or key is None:
        return key
    return mask_addresses(repr(key))


def rebuild(leaves, decode_leaf):
    """The root container of ``leaves`` (all under one root, in recorded order), nested back along
    their paths; ``decode_leaf(leaf)`` gives each leaf's value. Namedtuples come back as tuples."""
    root = _Node(leaves[0].path[0][0])
    for leaf in leaves:
        node = root
        for (_, key), (next_container, _) in zip(leaf.path, leaf.path[1:]):
            node = node.children.setdefault(key, _Node(next_container))
        node.children[leaf.path[-1][1]] = decode_leaf(leaf)
    return root.build()


def empty(leaf):
    """The empty container an "empty container" leaf stands for."""
    return EMPTY.get(leaf.container, list)()


class _Node:
    """One container on the way to the leaves: its kind and its children by key, in order."""

    __slots__ = ("container", "children")

    def __init__(self, container):
        self.container = container
        self.children = OrderedDict()

    def build(self):
        items = [(k, v.build() if isinstance(v, _Node) else v) for k, v in self.children.items()]
        if self.container == "dict":
            return dict(items)
        values = [v for _, v in items]
        return values if self.container == "list" else tuple(values)
