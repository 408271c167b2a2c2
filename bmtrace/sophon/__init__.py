"""The SOPHON side: bmodel metadata, libbmrt dumps, hand-saved files, sail values, a bmodel runner.

Everything here imports only the standard library, numpy and wrapt at import time; sail and the
runtime libraries are looked up when used.
"""
from __future__ import annotations

from .bmodel import Bmodel, BmodelNet, BmodelStage, BmodelTensor, read_bmodel
from .bmrt_import import import_bmrt, load_bmrt_dumps, record_bmrt_dumps
from .capture import BmrtCapture, capture_bmrt_io
from .instrument import instrument_sail, uninstrument_sail
from .npy_import import import_npy
from .runner import BmodelRunner
from .values import sail_to_array

__all__ = sorted([
    "Bmodel", "BmodelNet", "BmodelRunner", "BmodelStage", "BmodelTensor", "BmrtCapture", "capture_bmrt_io",
    "import_bmrt", "import_npy", "instrument_sail", "load_bmrt_dumps", "read_bmodel", "record_bmrt_dumps",
    "sail_to_array", "uninstrument_sail",
])
