"""Public recording API: start/stop/run, sample(), and trace_stage as decorator or context manager."""
from __future__ import annotations

import contextlib
import functools
import inspect
import os
import sys

from . import _state, recorder
from .errors import StoreError, UsageError
from .recorder import Recorder
from .stage import NULL_CALL, open_call
from .store import run_dir


# -- runs --------------------------------------------------------------------------------------------
def start(path, *, side=None, mode="full", overwrite=False, append=False, payload_cap_bytes=None,
          strict=False, stage_modes=None):
    """Start recording every traced stage of this process (and its workers) into run directory ``path``.

    Args:
        path: run directory; created if missing. A non-empty one is an error unless ``overwrite``
            (replace a previous run) or ``append`` (add records to it, e.g. from an importer).
        side: a label for this program, e.g. "original" or "port".
        mode: "full" keeps tensors; "stats" keeps only statistics and content hashes.
        payload_cap_bytes: past this many payload bytes, payloads are skipped with a warning.
        strict: raise StoreError on recording failures instead of reporting them and continuing.
        stage_modes: per-stage mode overrides, e.g. {"decode": "stats"}.

    Returns:
        The absolute run path. When the directory cannot be written (read-only, full disk), this is
        reported once on stderr, nothing is recorded and the program continues (strict: StoreError).

    Example:
        bmtrace.start("runs/port", side="port"); main(); bmtrace.stop()
    """
    if _state.recorder is not None:
        raise UsageError("a run is already active (%s); call bmtrace.stop() before starting %s"
                         % (_state.recorder.path, path))
    _check_mode(mode, "mode")
    for stage, stage_mode in (stage_modes or {}).items():
        _check_mode(stage_mode, "stage_modes[%r]" % stage)
    path = os.path.abspath(os.fspath(path))
    try:
        return recorder.activate(path, side, mode, overwrite, append, payload_cap_bytes, strict, stage_modes,
                                 joining=False)
    except OSError as exc:
        if strict:
            raise StoreError("bmtrace cannot create run %s (%s: %s); fix the path or its permissions, or free "
                             "space" % (path, type(exc).__name__, exc)) from exc
        print("bmtrace: not recording: cannot create run %s (%s: %s); your program continues. Fix the path or "
              "its permissions, or free space; pass strict=True to make this an error"
              % (path, type(exc).__name__, exc), file=sys.stderr)
        return path


def stop(_at_exit=False):
    """Stop the active run: close this process's journal, stamp the end time, build the index.

    Returns the run path, or None when no run was active.
    """
    return recorder.deactivate()


@contextlib.contextmanager
def run(path, **options):
    """Record everything inside the block into run directory ``path`` (same options as start)."""
    started = start(path, **options)
    try:
        yield started
    finally:
        stop()


@contextlib.contextmanager
def sample(key):
    """Group every stage recorded inside the block under sample ``key`` (an image file, a frame).

    Example:
        for path in images:
            with bmtrace.sample(os.path.basename(path)):
                predict(path)
    """
    token = _state.current_sample.set(None if key is None else str(key))
    try:
        yield key
    finally:
        _state.current_sample.reset(token)


# -- stages ------------------------------------------------------------------------------------------
class trace_stage:
    """Record a stage's inputs and outputs: as a decorator or as a context manager.

    Args:
        name: the stage name both programs use, e.g. "resize".
        meta: facts about the tensors, e.g. {"color": "BGR", "layout": "HWC"}; a dict value applies
            to the tensor of that name only, e.g. {"out": {"layout": "NCHW"}}.
        mode: "full" or "stats" for this stage only.
        kind: what the stage's outputs predict: "detections", "classification", "segmentation" or
            None; recorded as the outputs' meta["kind"] so the diff compares them as predictions.
        box_format: for detections, how boxes are written: "xyxy", "xywh" or "cxcywh" (meta["box_format"]).

    Example:
        @bmtrace.trace_stage("resize", meta={"color": "RGB"})
        def resize(img, size): ...

        with bmtrace.trace_stage("nms", kind="detections", box_format="xyxy") as st:
            boxes = st.input(boxes=boxes)           # returns the value it records
            dets = st.output(nms(boxes))            # returns the value to continue with
    """

    __slots__ = ("name", "meta", "mode", "declared")

    def __init__(self, name, meta=None, mode=None, kind=None, box_format=None):
        if not isinstance(name, str) or not name:
            raise UsageError("trace_stage needs a non-empty stage name string, got %r" % (name,))
        if meta is not None and not isinstance(meta, dict):
            raise UsageError("trace_stage(%r, meta=...) takes a dict, got %s" % (name, type(meta).__name__))
        if mode is not None:
            _check_mode(mode, "trace_stage(%r, mode=...)" % name)
        self.name, self.meta, self.mode = name, meta, mode
        self.declared = None  # a `with` block builds one per entry: checks only what was given
        if kind is not None or box_format is not None:
            from .stage import declaration

            self.declared = declaration(kind, box_format, "trace_stage(%r)" % name)

    # decorator form
    def __call__(self, fn):
        """Wrap ``fn``. A plain closure, not wrapt.FunctionWrapper: measured 0.3 us vs 2.2 us per call
        with no run active, and the disabled path must stay under 1 us."""
        if isinstance(fn, (staticmethod, classmethod)):
            skip_first = isinstance(fn, classmethod)  # cls is not an input
            return type(fn)(self._wrap(fn.__func__, skip_first))
        if not callable(fn):
            raise UsageError("@trace_stage(%r) decorates functions and methods, not %s" % (self.name, type(fn).__name__))
        return self._wrap(fn, _is_method(fn))

    def _wrap(self, fn, skip_first):
        identity = _function_identity(fn, skip_first)
        config = self
        state = _state
        signature = []

        @functools.wraps(fn)
        def traced(*args, **kwargs):
            if not state.hot:
                return fn(*args, **kwargs)
            return _record_call(config, identity, signature, skip_first, fn, args, kwargs)

        traced.__bmtrace_stage__ = self.name
        return traced

    # context-manager form: per-call state lives in a fresh StageCall on a contextvar stack
    def __enter__(self):
        rec = _active_recorder()
        call = _open_call(rec, self.name, self.meta, self.mode, _caller_identity(), self.declared) if rec else None
        stack = _state.stage_stack.get()
        _state.stage_stack.set(stack + ((call or NULL_CALL),))
        return call or NULL_CALL

    def __exit__(self, exc_type, exc, tb):
        stack = _state.stage_stack.get()
        call = stack[-1] if stack else NULL_CALL
        _state.stage_stack.set(stack[:-1])
        call.finish(error=exc)
        return False


def _record_call(config, identity, signature, skip_first, fn, args, kwargs):
    rec = _active_recorder()
    if rec is None:
        return fn(*args, **kwargs)
    call = _open_call(rec, config.name, config.meta, config.mode, identity, config.declared)
    if call is None:
        return fn(*args, **kwargs)
    stack = _state.stage_stack.get()
    token = _state.stage_stack.set(stack + (call,))
    try:
        named = call.take_inputs(_bind_arguments(fn, signature, skip_first, args, kwargs))
        if call.substitutes:
            args, kwargs = _rebind(signature, args, kwargs, named)
        try:
            result = fn(*args, **kwargs)
        except BaseException as exc:
            call.finish(error=exc)
            raise
        result = call.output(result)  # the identity unless a substitution plan replaces it
        call.finish()
        return result
    finally:
        _state.stage_stack.reset(token)


_open_call = open_call  # kept for callers of the old name


def _bind_arguments(fn, signature, skip_first, args, kwargs):
    """Arguments by parameter name, without self/cls; positional names when binding fails."""
    try:
        if not signature:
            sig = inspect.signature(fn)
            signature.extend((sig, _plain_parameters(sig)))  # one step: other threads see both or none
        named = _bind_plain(signature[1], args, kwargs) if signature[1] is not None else None
        if named is None:
            bound = signature[0].bind(*args, **kwargs)
            bound.apply_defaults()
            named = dict(bound.arguments)
    except (TypeError, ValueError):  # the call itself will raise; record what was passed
        named = {"args[%d]" % i: a for i, a in enumerate(args[1 if skip_first else 0:])}
        named.update(kwargs)
        return named
    if skip_first and named:
        named.pop(next(iter(named)))
    return named


_NO_DEFAULT = inspect.Parameter.empty


def _plain_parameters(sig):
    """``[(name, default), ...]`` when every parameter is positional-or-keyword (the usual stage
    function), else None: such calls bind in a loop instead of Signature.bind (~15 us a call)."""
    params = list(sig.parameters.values())
    if any(p.kind is not inspect.Parameter.POSITIONAL_OR_KEYWORD for p in params):
        return None
    return [(p.name, p.default) for p in params]


def _bind_plain(params, args, kwargs):
    """Signature.bind + apply_defaults for plain parameters, or None to let Signature.bind decide
    (and raise) when the call does not fit."""
    if len(args) > len(params):
        return None
    named = {}
    for i, (name, default) in enumerate(params):
        if i < len(args):
            if name in kwargs:
                return None
            named[name] = args[i]
        elif name in kwargs:
            named[name] = kwargs[name]
        elif default is not _NO_DEFAULT:
            named[name] = default
        else:
            return None
    for name in kwargs:
        if name not in named:
            return None  # a keyword that is no parameter
    return named


def _rebind(signature, args, kwargs, named):
    """``(args, kwargs)`` with the bound parameters replaced by ``named`` (the substituted inputs)."""
    if not signature:  # the arguments could not be bound by name: nothing can be substituted
        return args, kwargs
    try:
        bound = signature[0].bind(*args, **kwargs)
    except TypeError:
        return args, kwargs
    bound.apply_defaults()
    for name, value in named.items():
        if name in bound.arguments:
            bound.arguments[name] = value
    return bound.args, bound.kwargs


def _is_method(fn):
    """A function defined in a class body whose first parameter is self or cls."""
    qualname = getattr(fn, "__qualname__", "")
    if "." not in qualname or qualname.rsplit(".", 1)[0].endswith("<locals>"):
        return False
    params = _parameter_names(fn)
    return bool(params) and params[0] in ("self", "cls")


def _function_identity(fn, skip_first):
    code = getattr(fn, "__code__", None)
    try:
        source = inspect.getsourcefile(fn)
    except (TypeError, OSError):
        source = None
    source = source or (code.co_filename if code else None)
    params = _parameter_names(fn)
    return {
        "kind": "method" if skip_first else "function",
        "module": getattr(fn, "__module__", None),
        "qualname": getattr(fn, "__qualname__", getattr(fn, "__name__", None)),
        "file": os.path.abspath(source) if source else None,
        "line": code.co_firstlineno if code else None,
        "parameters": params[1:] if (skip_first and params) else params,
    }


def _parameter_names(fn):
    try:
        return [p.name for p in inspect.signature(fn).parameters.values()]
    except (TypeError, ValueError):
        return None


def _caller_identity():
    """Where a `with trace_stage(...)` block sits: enough to find it, not to replay it."""
    frame = sys._getframe(2)
    code = frame.f_code
    return {"kind": "block", "module": frame.f_globals.get("__name__"), "qualname": code.co_name,
            "file": os.path.abspath(code.co_filename), "line": frame.f_lineno, "parameters": None}


# -- activation (recorder.py) and run creation for other processes (store/run_dir.py) -----------------
_active_recorder = recorder.active_recorder  # the recorder of the active run, or None; starts BMTRACE_DIR


def create_run(path, *, side=None, mode="full", overwrite=False, stage_modes=None, payload_cap_bytes=None):
    """Create an empty run directory for another process to record into (`bmtrace record`)."""
    _check_mode(mode, "mode")
    return run_dir.create(path, side=side, mode=mode, overwrite=overwrite, stage_modes=stage_modes,
                          payload_cap_bytes=payload_cap_bytes)


def finalize_run(path):
    """Stamp the end time and build the Parquet index of a run recorded by other processes."""
    recorder.finalize(Recorder(os.path.abspath(os.fspath(path)), None, "full", None, None, strict=False,
                               owner=True))


_check_mode = recorder.check_mode
