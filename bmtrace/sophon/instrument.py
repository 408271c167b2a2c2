"""Record every ``sail.Engine.process`` call as a stage, without editing the program.

sail's ``Engine.process`` overloads (sophgo/sophon-sail v3.10 Python API):

- ``process(graph, {name: ndarray}, core_list=[]) -> {name: ndarray}``: float inputs of INT8
  networks are quantised by sail; outputs come back as float32 (integer outputs scaled by
  output_scale). The returned dict is built from a C++ ``std::map``, so its keys are sorted by name,
  not in bmodel order.
- ``process(graph, {name: Tensor}, {name: Tensor}, core_list=[])`` and
  ``process(graph, {name: Tensor}, {name: shape}, {name: Tensor}, core_list=[])``: outputs are
  written into the given output Tensors.

Each call becomes one record of stage ``stage`` (default "infer") with inputs and outputs named as
in the bmodel and listed in bmodel order. Per-tensor meta says where each tensor sits:
``bmodel_index`` and, for outputs, ``sail_dict_index`` (its position in the sorted dict sail
returns), so a program that does ``list(outputs.values())`` can be caught.
"""
from __future__ import annotations

import sys

import wrapt

from .values import enum_name

_PATCH_MARK = "_bmtrace_original_process"
# A deferred patch waiting for `import sophon.sail`: {"stage": name} while pending, else empty.
_pending = {}


def _safe(fn, *args):
    try:
        return fn(*args)
    except Exception:  # a metadata getter failing must not break the user's inference
        return None


def _is_shape_dict(value) -> bool:
    return isinstance(value, dict) and all(
        isinstance(v, (list, tuple)) and all(isinstance(d, int) for d in v) for v in value.values()
    )


def _split_process_args(args, kwargs):
    """(graph, inputs dict, output dict or None) for the three process() overloads."""
    positional = list(args)
    graph = positional.pop(0) if positional else kwargs.get("graph_name")
    inputs = positional.pop(0) if positional else kwargs.get("input_tensors", kwargs.get("input"))
    outputs = None
    if positional and isinstance(positional[0], dict):
        candidate = positional.pop(0)
        if _is_shape_dict(candidate) and positional and isinstance(positional[0], dict):
            candidate = positional.pop(0)  # (inputs, input_shapes, outputs)
        outputs = candidate
    elif "output" in kwargs:
        outputs = kwargs["output"]
    return graph, inputs, outputs


def _engine_facts(engine, graph, input_names, output_names):
    """Per-tensor meta from the engine's getters, keyed by tensor name."""
    meta = {}
    bmodel_inputs = _safe(engine.get_input_names, graph) if hasattr(engine, "get_input_names") else None
    bmodel_outputs = _safe(engine.get_output_names, graph) if hasattr(engine, "get_output_names") else None
    bmodel_inputs = list(bmodel_inputs or input_names)
    bmodel_outputs = list(bmodel_outputs or output_names)
    for index, name in enumerate(bmodel_inputs):
        entry = {"bmodel_index": index}
        if hasattr(engine, "get_input_dtype"):
            dtype = enum_name(_safe(engine.get_input_dtype, graph, name))
            if dtype:
                entry["sail_dtype"] = dtype
        if hasattr(engine, "get_input_scale"):
            scale = _safe(engine.get_input_scale, graph, name)
            if scale is not None:
                entry["sail_scale"] = float(scale)
        meta[name] = entry
    # std::map<std::string, ...> iterates in byte order of the keys, which is Python's sort order for str.
    dict_order = sorted(bmodel_outputs)
    for index, name in enumerate(bmodel_outputs):
        entry = {"bmodel_index": index, "sail_dict_index": dict_order.index(name)}
        if hasattr(engine, "get_output_scale"):
            scale = _safe(engine.get_output_scale, graph, name)
            if scale is not None:
                entry["sail_scale"] = float(scale)
        meta[name] = entry
    return meta, bmodel_inputs, bmodel_outputs


def _in_order(mapping, order):
    """Items of ``mapping`` in ``order`` first, then any other keys in their own order."""
    keys = [k for k in order if k in mapping] + [k for k in mapping if k not in order]
    return [(k, mapping[k]) for k in keys]


def _make_wrapper(stage):
    from .. import _state
    from ..api import trace_stage

    def wrapper(wrapped, instance, args, kwargs):
        if _state.recorder is None and not _state.env_pending:
            return wrapped(*args, **kwargs)
        try:
            graph, inputs, outputs = _split_process_args(args, kwargs)
            if not isinstance(inputs, dict):
                raise TypeError("unknown process() overload")
            per_tensor, input_order, output_order = _engine_facts(instance, graph, list(inputs), [])
        except Exception:
            return wrapped(*args, **kwargs)  # an overload we do not understand: run it untouched
        meta = {"sail_graph": graph}
        meta.update(per_tensor)
        with trace_stage(stage, meta=meta) as st:
            st.input(**dict(_in_order(inputs, input_order)))
            result = wrapped(*args, **kwargs)
            produced = result if isinstance(result, dict) else outputs
            if isinstance(produced, dict):
                st.output(**dict(_in_order(produced, output_order)))
            else:
                st.output(result)
        return result

    return wrapper


def _patch(sail, stage):
    engine = getattr(sail, "Engine", None)
    if engine is None:
        raise AttributeError("module %r has no Engine class" % getattr(sail, "__name__", sail))
    if _PATCH_MARK in engine.__dict__:
        return False  # already instrumented
    original = engine.__dict__.get("process", getattr(engine, "process"))
    wrapt.wrap_function_wrapper(engine, "process", _make_wrapper(stage))
    setattr(engine, _PATCH_MARK, original)
    return True


def instrument_sail(sail=None, stage: str = "infer") -> bool:
    """Record ``sail.Engine.process`` calls as stage ``stage`` while a bmtrace run is active.

    Args:
        sail: the sail module; default ``sophon.sail`` if imported, else it is patched as soon as the
            program imports it (no import happens here).
        stage: stage name for the records.
    Returns:
        True when patched now, False when deferred to the import or already patched.

    Example::

        import bmtrace, bmtrace.sophon
        bmtrace.sophon.instrument_sail()
        with bmtrace.run("runs/port", side="port"):
            main()      # every engine.process(...) is recorded as stage "infer"
    """
    if sail is None:
        sail = sys.modules.get("sophon.sail")
    if sail is not None:
        return _patch(sail, stage)
    if not _pending:
        wrapt.register_post_import_hook(_patch_on_import, "sophon.sail")
    _pending["stage"] = stage
    return False


def _patch_on_import(module):
    if not _pending:
        return  # cancelled by uninstrument_sail()
    stage = _pending.pop("stage")
    # A module may replace itself in sys.modules while importing; patch what the program will see.
    module = sys.modules.get(getattr(module, "__name__", ""), module)
    try:
        _patch(module, stage)
    except Exception as exc:  # never break the program's own `import sophon.sail`
        print("bmtrace: could not instrument sophon.sail: %s" % exc, file=sys.stderr)


def uninstrument_sail(sail=None) -> bool:
    """Undo instrument_sail on ``sail`` (default ``sophon.sail``), or cancel a patch still waiting for
    the import; True when something was undone."""
    cancelled = bool(_pending)
    _pending.clear()
    sail = sail or sys.modules.get("sophon.sail")
    engine = getattr(sail, "Engine", None)
    if engine is None or _PATCH_MARK not in engine.__dict__:
        return cancelled
    setattr(engine, "process", engine.__dict__[_PATCH_MARK])
    delattr(engine, _PATCH_MARK)
    return True
