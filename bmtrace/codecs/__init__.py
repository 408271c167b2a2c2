"""Stage values <-> named leaves: arrays with metadata, or small plain values, and back.

``flatten`` walks containers and asks the codec catalogue (catalogue.py) to encode each leaf;
``decode``/``decode_values`` ask the same catalogue to rebuild recorded leaves. Frameworks are
recognised through ``sys.modules`` and type names, never imported to check a type, so recording
keeps to numpy + wrapt on device images.
"""
from __future__ import annotations

import numpy as np

from . import containers
from .base import Codec, UndecodableValue, stable_repr, type_name
from .catalogue import CODECS
from .leaf import Leaf
from .numpy_arrays import NumpyCodec

_NUMPY = next(codec for codec in CODECS if isinstance(codec, NumpyCodec))

__all__ = ["CODECS", "Codec", "Leaf", "UndecodableValue", "decode", "decode_values", "encode_leaf", "flatten"]

MAX_DEPTH = 8
MAX_LEAVES = 1000


# -- encoding ------------------------------------------------------------------------------------------
def flatten(value, name, meta=None):
    """Return the list of leaves of ``value``, each named by its path below ``name``.

    Each leaf also keeps ``path``: the containers and keys leading to it, so decoding can rebuild
    the original structure (dict, list, tuple) from the leaves.
    """
    leaves = []
    _walk(value, name, dict(meta or {}), leaves, ())
    return leaves


def encode_leaf(value, name, meta):
    """The leaf of a non-container ``value`` from the first codec that takes it."""
    if type(value) is np.ndarray and _NUMPY in CODECS:
        # The most common leaf skips the codecs before NumpyCodec, which all decline a plain ndarray
        # (tests/codecs check it); this halves the cost of recording a small array.
        return _NUMPY.encode(value, name, meta)
    for codec in CODECS:
        leaf = codec.encode(value, name, meta)
        if leaf is not None:
            return leaf
    raise AssertionError("the last codec takes every value")  # pragma: no cover


def _walk(value, name, meta, leaves, path):
    if len(leaves) >= MAX_LEAVES:
        if not leaves[-1].note or "truncated" not in leaves[-1].note:
            leaves.append(Leaf.of_plain(name, "object", "...", meta, note="more than %d leaves: truncated" % MAX_LEAVES))
        return
    kind = containers.kind_of(value)
    items = None
    if kind == "list" and _prediction_columns(value, name, meta, leaves, path):
        return
    if kind is None:
        leaf = _encode_noted(value, name, meta)
    elif len(path) >= MAX_DEPTH:
        leaf = Leaf.of_plain(name, "object", stable_repr(value), meta, note="nested deeper than %d" % MAX_DEPTH)
    else:
        leaf, items = _read_container(value, kind, name, meta, MAX_LEAVES - len(leaves) + 1)
    if leaf is not None:
        leaf.path = list(path)
        leaves.append(leaf)
        return
    for key, suffix, item in items:
        _walk(item, name + suffix, meta, leaves, path + ((kind, key),))


def _prediction_columns(value, name, meta, leaves, path):
    """A list of detection dicts (COCO results, torchvision outputs) recorded as a few columns, not one
    leaf per number: 696 COCO records would be ~4,000 leaves and run past the cap. True when done."""
    try:
        if not isinstance(value[0], dict):  # the cheap refusal for every other list (a len() that raises too)
            return False
        from ..predictions.encode import encode_predictions

        encoded = encode_predictions(value)
    except Exception:
        return False  # not readable as predictions: flattened as usual
    if encoded is None:
        return False
    columns, column_meta = encoded
    merged = dict(column_meta)
    merged.update(meta)  # what the stage declared (kind, box_format) wins over the encoder's guess
    for key, array in columns.items():
        leaf = encode_leaf(array, "%s[%r]" % (name, key), merged)
        leaf.path = list(path) + [("dict", key)]
        leaves.append(leaf)
    return True


def _encode_noted(value, name, meta):
    try:
        return encode_leaf(value, name, meta)
    except Exception as exc:  # a value we cannot record is noted, never fatal
        return Leaf.of_plain(name, "object", stable_repr(value), meta,
                             note="could not record %s: %s: %s" % (type_name(value), type(exc).__name__, exc))


def _read_container(value, kind, name, meta, limit):
    """``(leaf, None)`` for an empty or unreadable container, else ``(None, its entries)``."""
    try:
        items = containers.entries(value, kind, limit)
    except Exception as exc:  # a container whose items/iteration raise is noted, never fatal
        return Leaf.of_plain(name, "object", stable_repr(value), meta,
                             note="could not read the items of %s: %s: %s"
                                  % (type_name(value), type(exc).__name__, exc)), None
    if items:
        return None, items
    leaf = Leaf.of_plain(name, "object", stable_repr(value), meta, note="empty " + type(value).__name__)
    leaf.container = kind
    return leaf, None


# -- decoding ------------------------------------------------------------------------------------------
def decode(leaf, template=None):
    """The object recorded leaf ``leaf`` (a reader ``Tensor``) was recorded from.

    ``template`` is the receiving side's own record of the same value: its meta chooses the
    representation of arrays (torch tensor, PIL image, plain numpy), so one side's values can be fed
    to the other side's code. Raises UndecodableValue for values recorded only as text.
    """
    if leaf.container:
        return containers.empty(leaf)
    meta = template.meta if template is not None and template.meta is not None else leaf.meta
    for codec in CODECS:
        if codec.decodes(leaf, meta):
            return codec.decode(leaf, meta)
    raise UndecodableValue("%r was recorded as %r, which no codec rebuilds" % (leaf.name, leaf.kind))


def decode_values(leaves, templates=None):
    """``{root name: value}`` from the recorded leaves of one call's inputs or outputs.

    ``templates`` maps names to the receiving side's records (see ``decode``).
    """
    templates = templates or {}
    groups = {}
    for leaf in leaves:
        root = leaf.name if not leaf.path else _root_name(leaf.name)
        groups.setdefault(root, []).append(leaf)
    values = {}
    for root, group in groups.items():
        if len(group) == 1 and not group[0].path:
            values[root] = decode(group[0], templates.get(root))
        else:
            values[root] = containers.rebuild(group, lambda leaf: decode(leaf, templates.get(leaf.name)))
    return values


def _root_name(name):
    cut = [i for i in (name.find("["), name.find(".")) if i > 0]
    return name[:min(cut)] if cut else name
