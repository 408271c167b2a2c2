"""Values no other codec records: kept as stable text, compared as text, never rebuilt."""
from __future__ import annotations

from .base import Codec, REPR_LIMIT, UndecodableValue, stable_repr, type_name
from .leaf import Leaf


class SetCodec(Codec):
    """set/frozenset: their elements sorted by text, since iteration order follows string hashes,
    which change from run to run (PYTHONHASHSEED)."""

    name = "set"

    def encode(self, value, name, meta):
        if not isinstance(value, (set, frozenset)):
            return None
        items = sorted(stable_repr(item) for item in value)
        text = "%s({%s})" % (type(value).__name__, ", ".join(items))
        note = "%s of %d items recorded as text, elements sorted" % (type(value).__name__, len(items))
        if len(text) > REPR_LIMIT:
            text = text[:REPR_LIMIT] + "..."
        leaf = Leaf.of_plain(name, "object", text, meta, note=note)
        return leaf

    def decodes(self, leaf, meta):
        return False  # decoded (refused) as an opaque object


class OpaqueCodec(Codec):
    """Anything else: its repr with memory addresses masked (``at 0x...``) and its type name in the
    note, so two runs of one deterministic program record the same text."""

    name = "opaque"

    def encode(self, value, name, meta):
        return Leaf.of_plain(name, "object", stable_repr(value), meta,
                             note="unrecorded type %s: recorded as its repr, memory addresses masked"
                                  % type_name(value))

    def decodes(self, leaf, meta):
        return leaf.kind == "object"

    def decode(self, leaf, meta):
        raise UndecodableValue("%r was recorded as text (%s), which cannot be rebuilt into an object"
                               % (leaf.name, leaf.value))
