"""ONNX Runtime: InferenceSession.run is an inference (inputs and outputs by name; a single one is x / out)."""
from __future__ import annotations

import os

from ..ops import Op, named_values


def _run_inputs(a):
    return named_values(a.get("input_feed") or {}, "x")


def _run_output(result, a):
    session = a.get("self")
    names = a.get("output_names")
    if not names:
        try:
            names = [o.name for o in session.get_outputs()]
        except Exception:
            names = None
    if isinstance(result, (list, tuple)) and len(result) == 1:
        return {"out": result[0]}
    if isinstance(result, (list, tuple)) and names and len(names) == len(result):
        return {str(n): v for n, v in zip(names, result)}
    return {"out": result}


def _run_params(a):
    session = a.get("self")
    model = getattr(session, "_model_path", None)
    try:
        providers = session.get_providers()
    except Exception:
        providers = None
    return {"model": os.path.basename(model) if isinstance(model, str) else None, "providers": providers,
            "output_names": a.get("output_names")}


OPS = [
    Op("onnxruntime", "infer", "onnxruntime.InferenceSession.run", [("onnxruntime", "InferenceSession.run")],
       ("self", "output_names", "input_feed", "run_options"), _run_inputs, _run_params, output=_run_output),
]
