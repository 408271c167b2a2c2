"""None, strings and byte strings."""
from __future__ import annotations

import numpy as np

from .base import Codec
from .leaf import Leaf

STR_LIMIT = 10000


class NoneCodec(Codec):
    name = "none"

    def encode(self, value, name, meta):
        return Leaf.of_plain(name, "none", None, meta) if value is None else None

    def decodes(self, leaf, meta):
        return leaf.kind == "none"

    def decode(self, leaf, meta):
        return None


class StrCodec(Codec):
    """Text, kept as is: lone surrogates (undecodable file names) are escaped by the JSON journal
    (``\\udcff``) and come back identical."""

    name = "str"

    def encode(self, value, name, meta):
        if not isinstance(value, str):
            return None
        if len(value) <= STR_LIMIT:
            return Leaf.of_plain(name, "str", str(value), meta)
        return Leaf.of_plain(name, "str", str(value[:STR_LIMIT]), meta,
                             note="string of %d chars truncated to %d" % (len(value), STR_LIMIT))

    def decodes(self, leaf, meta):
        return leaf.kind == "str"

    def decode(self, leaf, meta):
        return leaf.value


class BytesCodec(Codec):
    """bytes, bytearray and memoryview, stored as a uint8 array; bytearray comes back as bytearray,
    the others as bytes."""

    name = "bytes"

    def encode(self, value, name, meta):
        if not isinstance(value, (bytes, bytearray, memoryview)):
            return None
        leaf = Leaf.of_array(name, np.frombuffer(bytes(value), dtype=np.uint8), meta, kind="bytes")
        if isinstance(value, bytearray):
            leaf.py_type = "bytearray"
        return leaf

    def decodes(self, leaf, meta):
        return leaf.kind == "bytes"

    def decode(self, leaf, meta):
        data = leaf.load().tobytes()
        return bytearray(data) if leaf.py_type == "bytearray" else data
