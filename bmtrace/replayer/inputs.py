"""Rebuild a stage's arguments from recorded leaves, in the representation the target expects."""
from __future__ import annotations

import inspect
import warnings
from collections import OrderedDict

import numpy as np

from ..errors import ReplayError

_CONTAINER_TYPES = {"list": list, "tuple": tuple, "namedtuple": tuple, "dict": dict}


class Unreplayable(ReplayError):
    """A recorded value that cannot be turned back into an object (an opaque object's repr)."""


def rebuild_values(tensors, templates=None):
    """``{root name: value}`` from recorded leaves; ``templates`` (name -> Tensor) give representations."""
    templates = templates or {}
    groups = OrderedDict()
    for tensor in tensors:
        root = tensor.name if not tensor.path else _root_name(tensor.name)
        groups.setdefault(root, []).append(tensor)
    values = OrderedDict()
    for root, leaves in groups.items():
        if len(leaves) == 1 and not leaves[0].path:
            values[root] = leaf_value(leaves[0], templates.get(root))
        else:
            values[root] = _rebuild_container(leaves, templates)
    return values


def _root_name(name):
    cut = [i for i in (name.find("["), name.find(".")) if i > 0]
    return name[:min(cut)] if cut else name


def _rebuild_container(leaves, templates):
    """Nest the leaves back along their paths; leaves arrive in the containers' iteration order."""
    root = _Node(leaves[0].path[0][0])
    for leaf in leaves:
        node = root
        for (_, key), (next_container, _) in zip(leaf.path, leaf.path[1:]):
            node = node.children.setdefault(key, _Node(next_container))
        node.children[leaf.path[-1][1]] = leaf_value(leaf, templates.get(leaf.name))
    return root.build()


class _Node:
    """One container on the way to the leaves: its kind and its children by key, in order."""

    __slots__ = ("container", "children")

    def __init__(self, container):
        self.container = container
        self.children = OrderedDict()

    def build(self):
        items = [(k, v.build() if isinstance(v, _Node) else v) for k, v in self.children.items()]
        if self.container == "dict":
            return dict(items)
        values = [v for _, v in items]
        return values if self.container == "list" else tuple(values)  # namedtuples come back as tuples


def leaf_value(tensor, template=None):
    """One recorded leaf as a Python object; ``template`` is the target side's own record of it."""
    kind = tensor.kind
    if kind == "none":
        return None
    if kind == "str":
        return tensor.value
    if tensor.container:
        return _CONTAINER_TYPES.get(tensor.container, list)()
    if kind == "scalar":
        if tensor.py_type in ("int", "float", "bool", "complex"):
            value = tensor.value
            return complex(*value) if tensor.py_type == "complex" else value
        return np.dtype(tensor.dtype).type(tensor.value)
    if kind == "bytes":
        return tensor.load().tobytes()
    if kind == "object":
        raise Unreplayable("input %r of stage %r was recorded as an object (%s), which cannot be rebuilt; pass "
                           "it yourself: bmtrace.replay(..., inputs={%r: value})"
                           % (tensor.name, tensor.call.stage, tensor.value, tensor.name))
    array = tensor.load()
    return _as_representation(array, template.meta if template is not None else tensor.meta)


def _as_representation(array, meta):
    """numpy -> PIL image or torch tensor when that is what the function was given when recorded."""
    if meta.get("source_type") == "PIL.Image":
        from PIL import Image

        return Image.fromarray(np.ascontiguousarray(array), mode=meta.get("mode") if _mode_fits(array, meta) else None)
    if meta.get("framework") == "torch":
        import torch

        return torch.from_numpy(np.array(array, copy=True))
    return array


def _mode_fits(array, meta):
    mode = meta.get("mode")
    channels = {"RGB": 3, "RGBA": 4, "L": None}
    return mode in channels and (array.ndim == 2 if mode == "L" else array.ndim == 3 and array.shape[2] == channels[mode])


def bind_to_signature(fn, values, stage):
    """``(args, kwargs)`` calling ``fn`` with ``values`` by parameter name, else by position with a warning."""
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return list(values.values()), {}
    params = list(sig.parameters.values())
    names = {p.name for p in params}
    accepts_kwargs = any(p.kind == p.VAR_KEYWORD for p in params)
    unknown = [n for n in values if n not in names]
    if unknown and not accepts_kwargs:
        positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
        if len(values) <= len(positional) and all(p.default is p.empty or p.name not in values for p in positional[len(values):]):
            warnings.warn("stage %r: recorded inputs %s do not match the parameters %s of %s; passing them by "
                          "position" % (stage, list(values), [p.name for p in params], _name(fn)), stacklevel=3)
            return list(values.values()), {}
        raise ReplayError(_mismatch(fn, params, values, stage))
    args, kwargs = [], {}
    has_var_positional = any(p.kind == p.VAR_POSITIONAL for p in params)
    for p in params:
        if p.name not in values:
            if p.default is p.empty and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
                raise ReplayError(_mismatch(fn, params, values, stage))
            continue
        value = values[p.name]
        if p.kind == p.VAR_POSITIONAL:
            args.extend(value)
        elif p.kind == p.VAR_KEYWORD:
            kwargs.update(value)
        elif p.kind == p.POSITIONAL_ONLY or (has_var_positional and p.kind == p.POSITIONAL_OR_KEYWORD):
            args.append(value)
        else:
            kwargs[p.name] = value
    for name in unknown:
        kwargs[name] = values[name]
    return args, kwargs


def _name(fn):
    return getattr(fn, "__qualname__", repr(fn))


def _mismatch(fn, params, values, stage):
    return ("%s(%s) does not accept the recorded inputs of stage %r: recorded %s; rename the parameters, or "
            "pass inputs={...} to supply or rename values" % (_name(fn), ", ".join(str(p) for p in params), stage,
                                                             ", ".join(values) or "none"))
