"""What bmtrace.auto knows about one library call: its canonical kind, where it lives, how to read it.

An ``Op`` names the call (``cv2.resize``), the attribute(s) to patch (module name + attribute path),
the parameter names of its signature (to bind positional arguments), and small functions that pick
the data inputs, the parameters that matter, the outputs and, for decoders, the file name.
Everything here is pure description; ``patch.py`` does the patching and ``record.py`` the recording.
"""
from __future__ import annotations

import os

# The canonical kinds: an auto-recorded stage is named by its kind, so runs of different libraries
# pair stage by stage (sample, kind, order within the sample).
KINDS = ("decode", "color", "resize", "pad", "normalize", "infer", "nms")

# What Op.decide may answer besides recording the call.
RECORD = "record"
PASS = "pass"      # call through; calls nested inside may still record (e.g. Module.__call__ of a transform)
GUARD = "guard"    # call through and record nothing nested inside (e.g. a model in training mode)


class Op:
    """One patched library call.

    Args:
        library: the name users pass to --auto (cv2, PIL, torchvision, torch, onnxruntime, sail).
        kind: one of KINDS; the stage name the call is recorded under.
        name: the library op as users know it, e.g. "cv2.resize", "torchvision.transforms.Resize".
        targets: [(module name, "Attr.path")] to patch; the module is patched when it is imported.
        names: parameter names of the call in order ("self" first for methods), to bind positionals.
        inputs: bound arguments -> {name: value} of the data to record before the call.
        params: bound arguments -> {name: JSON value} of the settings that matter.
        output: (result, bound arguments) -> {name: value} to record after the call (default: out);
            None drops the record (the call produced nothing, e.g. a video at its end).
        source: bound arguments -> the file the call decodes, for the sample key (decoders only).
        decide: bound arguments -> RECORD, PASS or GUARD (default RECORD).
        meta: bound arguments -> trace_stage-style tensor meta known from the call (e.g. OpenCV decodes
            BGR, HWC: {"out": {"color": "BGR", "layout": "HWC"}}), for diff's explanations.
    """

    __slots__ = ("library", "kind", "name", "targets", "names", "inputs", "params", "output", "source", "decide",
                 "meta")

    def __init__(self, library, kind, name, targets, names, inputs, params=None, output=None, source=None,
                 decide=None, meta=None):
        assert kind in KINDS, kind
        self.library, self.kind, self.name = library, kind, name
        self.targets = list(targets)
        self.names = tuple(names)
        self.inputs = inputs
        self.params = params or _no_params
        self.output = output or _plain_output
        self.source = source
        self.decide = decide
        self.meta = meta

    def bind(self, args, kwargs):
        """The call's arguments by parameter name (extra positionals as args[i])."""
        bound = dict(zip(self.names, args))
        for i in range(len(self.names), len(args)):
            bound["args[%d]" % i] = args[i]
        bound.update(kwargs)
        return bound

    def __repr__(self):
        return "<Op %s %s>" % (self.kind, self.name)


def _no_params(bound):
    return {}


def _plain_output(result, bound):
    return {"out": result}


# -- helpers the library modules share ----------------------------------------------------------------
def image_input(key):
    """inputs() recording one image argument under the canonical name ``img`` (pairs across libraries)."""
    def inputs(bound):
        return {"img": bound.get(key)}
    return inputs


def named_values(values, single="x"):
    """A dict of named tensors; a single one is renamed ``single`` so different runtimes pair by name."""
    if isinstance(values, dict) and len(values) == 1:
        return {single: next(iter(values.values()))}
    if isinstance(values, dict):
        return {str(k): v for k, v in values.items()}
    return {single: values}


def file_name(value):
    """The base name of a path-like argument, or None for buffers, file objects and the like."""
    if isinstance(value, bytes):
        try:
            value = value.decode("utf-8")
        except UnicodeDecodeError:
            return None
    if isinstance(value, os.PathLike):
        value = os.fspath(value)
    if isinstance(value, str) and value:
        return os.path.basename(value) or value
    return None


def constant_name(module, prefix, value, default=None):
    """The name(s) of an integer constant, e.g. cv2.INTER_LINEAR for 1 (aliases joined with '|')."""
    if value is None:
        return default
    try:
        number = int(value)
    except (TypeError, ValueError):
        return str(value)
    return _constants(module, prefix).get(number) or str(number)


_constant_maps = {}


def _constants(module, prefix):
    """{value: "NAME|ALIAS"} of a module's integer constants with this prefix, built once (dir() is slow)."""
    key = (getattr(module, "__name__", None), prefix)
    found = _constant_maps.get(key)
    if found is None:
        names = {}
        for name in sorted(dir(module)) if module is not None else ():
            if name.startswith(prefix):
                value = getattr(module, name, None)
                if isinstance(value, int) and not isinstance(value, bool):
                    names.setdefault(value, []).append(name)
        found = _constant_maps[key] = {value: "|".join(group) for value, group in names.items()}
    return found


def plain(value):
    """A JSON-friendly copy of a parameter: numbers, strings, lists; enums by name; the rest by repr."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    name = getattr(value, "name", None)
    if isinstance(name, str) and hasattr(value, "value"):  # enum members
        return name
    if hasattr(value, "tolist") and getattr(value, "size", 2) <= 16:  # small numpy/torch values
        try:
            return plain(value.tolist())
        except Exception:
            pass
    text = repr(value)
    return text if len(text) <= 200 else text[:197] + "..."
