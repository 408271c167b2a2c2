"""The patched call: record one library call as a stage named by its kind, never changing its result.

Nested patched calls record once, at the outermost one (a Resize calling F.resize calling PIL's
resize): ``_inside`` is set while a patched call runs. Inside a decorated stage named by a canonical
kind (e.g. ``@trace_stage("resize")``), only calls of that kind record: the others are that stage's
implementation details. Any failure while recording goes through the recorder's failure policy
(reported once, the program continues) and the library call runs as if unpatched.
"""
from __future__ import annotations

import contextvars
import sys

from .. import _state
from ..stage import open_call
from .ops import GUARD, KINDS, PASS, plain

_inside: contextvars.ContextVar = contextvars.ContextVar("bmtrace_auto_inside", default=False)


def make_wrapper(op, original, settings):
    """A function calling ``original``; while a run is active, it records the call as stage ``op.kind``."""
    state = _state
    inside = _inside

    def patched(*args, **kwargs):
        if not state.hot or inside.get():
            return original(*args, **kwargs)
        return _record(op, original, settings, args, kwargs)

    for attr in ("__name__", "__qualname__", "__doc__", "__module__"):
        try:
            setattr(patched, attr, getattr(original, attr))
        except (AttributeError, TypeError):
            pass
    patched.__wrapped__ = original
    patched.__bmtrace_auto__ = op
    return patched


def _record(op, original, settings, args, kwargs):
    rec = _state.active_recorder()
    if rec is None:
        return original(*args, **kwargs)
    call, decision, bound = None, None, {}
    try:
        bound = op.bind(args, kwargs)
        decision = op.decide(bound) if op.decide else None
        if decision is None and _owned_by_other_kind(op.kind):
            decision = GUARD
        if decision is None and _name_the_decorated_stage(op, bound):
            decision = GUARD  # the decorated stage of this kind is the record; it now names the library op
        if decision is None:
            if op.kind != "decode":
                _decode_pending_images(bound)
            settings.samples.before(op, bound)
            meta = op.meta(bound) if op.meta else None
            call = open_call(rec, op.kind, meta, None, _identity(op, bound, settings))
            if call is not None:
                call.input(**op.inputs(bound))
    except Exception as exc:
        rec.report_failure(exc, "recording a call of %s" % op.name)
    if decision == PASS:
        return original(*args, **kwargs)
    if decision == GUARD:
        return _call_guarded(original, args, kwargs)
    inside_token = _inside.set(True)
    stack_token = _state.stage_stack.set(_state.stage_stack.get() + (call,)) if call is not None else None
    try:
        try:
            result = original(*args, **kwargs)
        except BaseException as exc:
            if call is not None:
                call.finish(error=exc)
            raise
        if call is not None:
            _finish(rec, op, call, result, bound)
        return result
    finally:
        if stack_token is not None:
            _state.stage_stack.reset(stack_token)
        _inside.reset(inside_token)


def _finish(rec, op, call, result, bound):
    try:
        named = op.output(result, bound)
        if named is None:  # the call produced nothing to record (a video at its end): no record
            return
        call.output(**named)
    except Exception as exc:
        rec.report_failure(exc, "recording the output of %s" % op.name)
    call.finish()


def _decode_pending_images(bound):
    """Let a lazily opened PIL image decode now, as its own decode stage, before the call that needs it.

    ``Image.open(path).convert("RGB")`` decodes inside convert; without this the decode would be
    nested in the color call (so not recorded) and the file would not name the sample. convert,
    resize, ToTensor... load the image first thing anyway, so loading a moment earlier changes nothing.
    """
    image_file = sys.modules.get("PIL.ImageFile")
    if image_file is None:
        return
    for value in bound.values():
        if isinstance(value, image_file.ImageFile) and value.tile:
            try:
                value.load()
            except Exception:  # the library call itself will raise it, unchanged
                pass


def _call_guarded(original, args, kwargs):
    token = _inside.set(True)
    try:
        return original(*args, **kwargs)
    finally:
        _inside.reset(token)


def _owned_by_other_kind(kind):
    """True inside a decorated stage named by another canonical kind (its internals are not stages)."""
    stack = _state.stage_stack.get()
    if not stack:
        return False
    name = getattr(stack[-1], "stage", None)
    return name in KINDS and name != kind


def _name_the_decorated_stage(op, bound):
    """Inside a decorated stage named by this call's own kind (``@trace_stage("resize")`` around
    ``cv2.resize``), the decorated call is the one record of it, so both programs keep one ``resize``
    stage each; the library op and its parameters go onto that call. True when that is the case."""
    stack = _state.stage_stack.get()
    top = stack[-1] if stack else None
    if top is None or getattr(top, "stage", None) != op.kind:
        return False
    function = getattr(top, "function", None)
    if isinstance(function, dict) and function.get("kind") != "auto" and "op" not in function:
        try:
            params = {str(k): plain(v) for k, v in op.params(bound).items()}
        except Exception:
            params = {}
        top.function = dict(function, op=op.name, params=params)  # a copy: the identity is shared by calls
    return True


def _identity(op, bound, settings):
    """The record's ``function``: which library op ran, with what parameters, called from where."""
    try:
        params = {str(k): plain(v) for k, v in op.params(bound).items()}
    except Exception as exc:  # a parameter we cannot read is noted, the call is still recorded
        params = {"unreadable": "%s: %s" % (type(exc).__name__, exc)}
    module, qualname = op.targets[0]
    frame = _caller_frame()
    return {
        "kind": "auto",
        "op": op.name,
        "stage_kind": op.kind,
        "params": params,
        "library": settings.implementation(op.library),
        "module": module,
        "qualname": qualname,
        "file": frame.f_code.co_filename if frame is not None else None,
        "line": frame.f_lineno if frame is not None else None,
        "parameters": None,
    }


def _caller_frame():
    """The first frame outside bmtrace: where the program (or a library) made the patched call."""
    try:
        frame = sys._getframe(3)
    except ValueError:
        return None
    while frame is not None and frame.f_globals.get("__name__", "").startswith("bmtrace.auto"):
        frame = frame.f_back
    return frame
