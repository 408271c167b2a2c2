"""Zero-edit tracing: record the library calls of a CV pipeline as stages named by their kind.

While a run is active, calls of OpenCV, Pillow, torchvision, torch, ONNX Runtime and sail that make
up a vision pipeline are recorded as stages named by their canonical kind (decode, color, resize,
pad, normalize, infer, nms), with the library op and its parameters in the record's ``function``:
``{"kind": "auto", "op": "cv2.resize", "params": {...}, "library": {...}, ...}``. Runs of different
libraries then pair stage by stage: a ``transforms.Resize`` with a ``cv2.resize``.

Turn it on with ``bmtrace record --auto -- python prog.py``, ``BMTRACE_AUTO=cv2,PIL`` next to
BMTRACE_DIR, or ``bmtrace.auto()`` in code. With no run active, the libraries are untouched.
"""
from __future__ import annotations

import sys
import types

from .control import LIBRARIES, active_patches, cancel
from .ops import KINDS
from .samples import POLICIES


def auto(libs=None, sample_from=None):
    """Record calls of ``libs`` (default: all of LIBRARIES) as stages whenever a run is active.

    Args:
        libs: library names ("cv2", "PIL", "torchvision", "torch", "onnxruntime", "sail"), as a list
            or a comma-separated string; None or "all" for every one.
        sample_from: how calls are grouped into samples: "decode" (default: each decode starts a
            sample named by the file's base name), "frame" (a counter per decode), or "argvN"
            (the base name of sys.argv[N]). A sample set with bmtrace.sample() always wins.

    Returns:
        The library names that will be traced.

    Example:
        bmtrace.auto(["cv2", "onnxruntime"])
        with bmtrace.run("runs/port", side="port"):
            main()
    """
    from .control import request

    return request(libs, sample_from)


class _CallableModule(types.ModuleType):
    """``bmtrace.auto`` is this package once imported: calling it is calling ``auto()``."""

    def __call__(self, libs=None, sample_from=None):
        return auto(libs, sample_from)


sys.modules[__name__].__class__ = _CallableModule

__all__ = ["KINDS", "LIBRARIES", "POLICIES", "active_patches", "auto", "cancel"]
