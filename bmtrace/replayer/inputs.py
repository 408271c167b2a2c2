"""Rebuild a stage's arguments from recorded leaves (decoded by the codec catalogue, bmtrace/codecs/),
in the representation the target expects, and bind them to its signature."""
from __future__ import annotations

import inspect
import warnings
from collections import OrderedDict

from ..codecs import UndecodableValue, decode, decode_values
from ..errors import ReplayError


class Unreplayable(UndecodableValue):
    """A recorded value that cannot be turned back into an object (an opaque object's repr)."""


def rebuild_values(tensors, templates=None):
    """``{root name: value}`` from recorded leaves; ``templates`` (name -> Tensor) give representations."""
    try:
        return OrderedDict(decode_values(tensors, templates))
    except UndecodableValue as exc:
        raise _unreplayable(exc, tensors) from None


def leaf_value(tensor, template=None):
    """One recorded leaf as a Python object; ``template`` is the target side's own record of it."""
    try:
        return decode(tensor, template)
    except UndecodableValue as exc:
        raise _unreplayable(exc, [tensor]) from None


def _unreplayable(exc, tensors):
    call = getattr(tensors[0], "call", None) if tensors else None
    stage = getattr(call, "stage", None)
    return Unreplayable("stage %r: input %s; pass it yourself: bmtrace.replay(..., inputs={name: value})"
                        % (stage, exc))


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
