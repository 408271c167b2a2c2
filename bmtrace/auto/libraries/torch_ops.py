"""torch calls: the outermost nn.Module call (infer) and torch.nn.functional.interpolate (resize).

Only a model's outermost call is an inference: calls nested inside it record nothing, and a module
that belongs to a model already seen (``model.conv1(x)`` called directly) is a part, not a model.
A module in training mode is being trained or calibrated, not run for inference, and is skipped.
torchvision's transforms are Modules too; their own ops record them (Resize, Pad, Normalize).
"""
from __future__ import annotations

import weakref

from ..ops import GUARD, PASS, Op, image_input, named_values

_parts = weakref.WeakSet()   # submodules of models seen so far
_models = weakref.WeakSet()  # models whose submodules are in _parts


def _decide_module(a):
    module = a.get("self")
    cls = type(module)
    if cls.__module__.startswith("torchvision.transforms"):
        return PASS
    _remember_parts(module)
    if module in _parts or getattr(module, "training", False):
        return GUARD
    return None


def _remember_parts(module):
    try:
        if module in _models or module in _parts:
            return
        _models.add(module)
        for part in module.modules():
            if part is not module:
                _parts.add(part)
    except TypeError:  # an unhashable or non-weakrefable module: judge it by its own call only
        pass


def _module_inputs(a):
    named = {k: v for k, v in a.items() if k != "self" and not k.startswith("args[")}
    positional = [a[k] for k in sorted((k for k in a if k.startswith("args[")), key=lambda k: int(k[5:-1]))]
    if len(positional) == 1 and not named:
        return {"x": positional[0]}
    named.update(("args[%d]" % i, v) for i, v in enumerate(positional))
    return named


def _module_params(a):
    module = a.get("self")
    cls = type(module)
    device = None
    try:
        device = str(next(module.parameters()).device)
    except Exception:
        pass
    return {"model": "%s.%s" % (cls.__module__, cls.__qualname__), "device": device}


def _interpolate_params(a):
    return {"size": a.get("size"), "scale_factor": a.get("scale_factor"), "mode": a.get("mode", "nearest"),
            "align_corners": a.get("align_corners"), "antialias": a.get("antialias", False)}


OPS = [
    Op("torch", "infer", "torch.nn.Module.__call__", [("torch", "nn.Module.__call__")], ("self",),
       _module_inputs, _module_params, output=lambda result, a: named_values(result, "out"),
       decide=_decide_module),
    Op("torch", "resize", "torch.nn.functional.interpolate", [("torch.nn.functional", "interpolate")],
       ("input", "size", "scale_factor", "mode", "align_corners", "recompute_scale_factor", "antialias"),
       image_input("input"), _interpolate_params),
]
