"""What every value codec shares: the Codec protocol and the stable text of an object.

A codec knows one kind of value both ways: ``encode`` turns a live value into a ``Leaf`` (or returns
None: "not mine, ask the next codec"), ``decode`` turns a recorded leaf back into that kind of object.
The catalogue (catalogue.py) asks the codecs in order, for encoding and for decoding alike.
"""
from __future__ import annotations

import re

from ..errors import ReplayError

REPR_LIMIT = 200

# CPython's default reprs ("<Foo object at 0x7f3a...>", "<function f at 0x...>") embed a memory
# address that changes from run to run; masked, two runs of one deterministic program agree.
_ADDRESS = re.compile(r"\bat 0x[0-9a-fA-F]+")
MASKED_ADDRESS = "at 0x..."


class UndecodableValue(ReplayError):
    """A recorded leaf that cannot be turned back into an object (e.g. an opaque object's repr)."""


class Codec:
    """One kind of value, recorded and rebuilt in the same class.

    Subclasses set ``name`` and override ``encode``; they override ``decodes``/``decode`` when their
    leaves need more than the codec that would otherwise claim them (e.g. a torch tensor is stored as
    an array but should come back as a torch tensor).
    """

    name = "codec"

    def encode(self, value, name, meta):
        """A ``Leaf`` for ``value`` named ``name`` with tensor ``meta``; None when ``value`` is not this kind."""
        return None

    def decodes(self, leaf, meta):
        """Whether this codec rebuilds recorded ``leaf``; ``meta`` is the representation asked for
        (the receiving side's own record of that value when there is one, else ``leaf.meta``)."""
        return False

    def decode(self, leaf, meta):
        """The object ``leaf`` was recorded from (or its closest equivalent, as documented per codec)."""
        raise UndecodableValue("%s cannot rebuild %r" % (self.name, leaf.name))

    def __repr__(self):
        return "<codec %s>" % self.name


def type_name(value):
    cls = type(value)
    return "%s.%s" % (cls.__module__, cls.__qualname__)


def mask_addresses(text):
    """``text`` with memory addresses replaced by ``0x...``."""
    return _ADDRESS.sub(MASKED_ADDRESS, text)


def stable_repr(value, limit=REPR_LIMIT):
    """repr(value) with memory addresses masked and cut to ``limit`` characters; never raises."""
    try:
        text = mask_addresses(repr(value))
    except Exception as exc:
        text = "<%s; repr failed: %s: %s>" % (type_name(value), type(exc).__name__, exc)
    return text if len(text) <= limit else text[:limit] + "..."
