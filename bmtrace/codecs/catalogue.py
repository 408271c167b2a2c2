"""The value codecs, in the order they are asked.

Encoding: the first codec whose ``encode`` returns a leaf records the value (OpaqueCodec, last,
takes anything). Decoding: the first codec whose ``decodes`` claims the recorded leaf rebuilds it,
so a codec that refines another's leaves (torch tensors are stored as arrays) comes before it.

To add a kind of value: write its Codec subclass in a module of this package, add one line below.
"""
from __future__ import annotations

from .numpy_arrays import ArrayLikeCodec, MaskedArrayCodec, NumpyCodec
from .opaque import OpaqueCodec, SetCodec
from .pil_images import PilImageCodec
from .plain import BytesCodec, NoneCodec, StrCodec
from .sail_values import SailCodec
from .scalars import BigIntCodec, ScalarCodec
from .torch_tensors import TorchCodec

CODECS = (
    NoneCodec(),
    ScalarCodec(),
    BigIntCodec(),
    StrCodec(),
    BytesCodec(),
    TorchCodec(),
    PilImageCodec(),
    SailCodec(),
    MaskedArrayCodec(),
    NumpyCodec(),
    ArrayLikeCodec(),
    SetCodec(),
    OpaqueCodec(),
)
