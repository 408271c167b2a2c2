"""The library calls bmtrace.auto records, one module per library (importing one never imports the library)."""
from __future__ import annotations

import importlib

_MODULES = {"cv2": "cv2_ops", "PIL": "pil_ops", "torchvision": "torchvision_ops", "torch": "torch_ops",
            "onnxruntime": "onnxruntime_ops", "sail": "sail_ops"}
_cache = {}


def ops_for(library):
    """The Op list of one library name (see bmtrace.auto.control.LIBRARIES)."""
    ops = _cache.get(library)
    if ops is None:
        ops = _cache[library] = list(importlib.import_module("." + _MODULES[library], __name__).OPS)
    return ops
