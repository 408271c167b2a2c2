"""Public recording API: start/stop/run, sample(), and trace_stage as decorator or context manager."""
from __future__ import annotations

import atexit
import contextlib
import functools
import inspect
import os
import shutil
import sys
import threading

from . import _state
from .errors import RunExistsError, UsageError, FormatVersionError
from .recorder import MODES, Recorder, now, run_document
from .stage import NULL_CALL, StageCall
from .store import layout

_ENV_VARS = ("BMTRACE_DIR", "BMTRACE_SIDE", "BMTRACE_MODE", "BMTRACE_JOIN")
_saved_env = {}
_hooks_installed = False
_env_start_lock = threading.Lock()


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
        The absolute run path.

    Example:
        bmtrace.start("runs/port", side="port"); main(); bmtrace.stop()
    """
    if _state.recorder is not None:
        raise UsageError("a run is already active (%s); call bmtrace.stop() before starting %s"
                         % (_state.recorder.path, path))
    _check_mode(mode, "mode")
    for stage, stage_mode in (stage_modes or {}).items():
        _check_mode(stage_mode, "stage_modes[%r]" % stage)
    return _activate(os.path.abspath(os.fspath(path)), side, mode, overwrite, append, payload_cap_bytes,
                     strict, stage_modes, joining=False)


def stop(_at_exit=False):
    """Stop the active run: close this process's journal, stamp the end time, build the index.

    Returns the run path, or None when no run was active.
    """
    rec = _state.recorder
    _state.env_pending = False
    _state.recorder = None
    _state.refresh()
    if rec is None:
        return None
    rec.close_writer()
    if rec.owner:
        # At interpreter exit pyarrow can no longer be imported; the index is then built on first read.
        _finalize_run(rec, build_index=not _at_exit or "pyarrow.parquet" in sys.modules)
    _restore_env()
    return rec.path


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


def _open_call(rec, stage, meta, mode, identity, declared=None):
    """A StageCall, or None when the run is broken; ``declared`` is the outputs' kind/box_format meta."""
    if rec.broken:
        return None
    try:
        return StageCall(rec, stage, meta, mode, identity, declared)
    except Exception as exc:
        rec.report_failure(exc, "opening a call of stage %r" % stage)
        return None


def _bind_arguments(fn, signature, skip_first, args, kwargs):
    """Arguments by parameter name, without self/cls; positional names when binding fails."""
    try:
        if not signature:
            signature.append(inspect.signature(fn))
        bound = signature[0].bind(*args, **kwargs)
    except (TypeError, ValueError):  # the call itself will raise; record what was passed
        named = {"args[%d]" % i: a for i, a in enumerate(args[1 if skip_first else 0:])}
        named.update(kwargs)
        return named
    bound.apply_defaults()
    named = dict(bound.arguments)
    if skip_first and named:
        named.pop(next(iter(named)))
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


# -- activation, environment variables, exit and fork -------------------------------------------------
def _active_recorder():
    rec = _state.recorder
    if rec is None and _state.env_pending:
        # Threads making their first traced call together must all wait for the one start, or the
        # calls racing it would be dropped.
        with _env_start_lock:
            rec = _state.recorder
            if rec is None and _state.env_pending:
                try:
                    rec = _start_from_env()
                finally:
                    _state.env_pending = False
                    _state.refresh()
    return rec


def _start_from_env():
    """BMTRACE_DIR asks for a run at the first traced call; BMTRACE_JOIN marks a worker of a run."""
    path = os.environ.get("BMTRACE_DIR")
    if not path:
        return None
    path = os.path.abspath(path)
    joining = os.environ.get("BMTRACE_JOIN") == path
    mode = os.environ.get("BMTRACE_MODE") or "full"
    strict = os.environ.get("BMTRACE_STRICT", "") not in ("", "0")
    try:
        _check_mode(mode, "BMTRACE_MODE")
        _activate(path, os.environ.get("BMTRACE_SIDE") or None, mode,
                  os.environ.get("BMTRACE_OVERWRITE", "") not in ("", "0"), False, None, strict, None,
                  joining=joining)
    except Exception as exc:
        if strict:
            raise
        print("bmtrace: not recording: %s" % exc, file=sys.stderr)
        return None
    return _state.recorder


def _activate(path, side, mode, overwrite, append, payload_cap_bytes, strict, stage_modes, joining):
    if joining:
        doc = _read_existing_run(path)
    else:
        doc = _prepare_directory(path, overwrite, append)
    if doc is not None:  # appending to or joining an existing run keeps its settings unless given
        side = side if side is not None else doc.get("side")
    else:
        _write_run_document(path, side, mode, stage_modes, payload_cap_bytes)
    rec = Recorder(path, side, mode, stage_modes, payload_cap_bytes, strict, owner=not joining)
    if os.environ.get("BMTRACE_SUBSTITUTE"):  # a substitution run (bmtrace substitute / attribute)
        from .replayer.substitute import attach_from_env

        attach_from_env(rec)
    _state.recorder = rec
    _state.refresh()
    _install_hooks()
    _export_env(rec)
    return path


def _prepare_directory(path, overwrite, append):
    """Check the run directory; returns the existing run document when appending."""
    run_file = os.path.join(path, layout.RUN_FILE)
    if os.path.isdir(path) and os.listdir(path):
        is_run = os.path.isfile(run_file)
        if append:
            if not is_run:
                raise RunExistsError("cannot append to %s: it is not a bmtrace run (no %s)" % (path, layout.RUN_FILE))
            return _read_existing_run(path)
        if not overwrite:
            raise RunExistsError("run directory %s is not empty; pass overwrite=True (CLI: --overwrite) to "
                                 "replace it, append=True to add to it, or choose another path" % path)
        if not is_run:
            raise RunExistsError("refusing to overwrite %s: it is not empty and not a bmtrace run; "
                                 "choose an empty or new directory" % path)
        shutil.rmtree(path)
    elif os.path.exists(path) and not os.path.isdir(path):
        raise RunExistsError("run path %s exists and is a file; choose a directory path" % path)
    os.makedirs(path, exist_ok=True)
    return None


def create_run(path, *, side=None, mode="full", overwrite=False, stage_modes=None, payload_cap_bytes=None):
    """Create an empty run directory for another process to record into (`bmtrace record`)."""
    _check_mode(mode, "mode")
    path = os.path.abspath(os.fspath(path))
    _prepare_directory(path, overwrite, append=False)
    _write_run_document(path, side, mode, stage_modes, payload_cap_bytes)
    return path


def finalize_run(path):
    """Stamp the end time and build the Parquet index of a run recorded by other processes."""
    rec = Recorder(path, None, "full", None, None, strict=False, owner=True)
    _finalize_run(rec)


def _write_run_document(path, side, mode, stage_modes, payload_cap_bytes):
    doc = run_document(path, side, mode, now(), stage_modes=stage_modes, payload_cap_bytes=payload_cap_bytes)
    layout.write_json_atomic(os.path.join(path, layout.RUN_FILE), doc)


def _read_existing_run(path):
    doc = layout.read_json(os.path.join(path, layout.RUN_FILE))
    if doc.get("format_version", 0) > layout.FORMAT_VERSION:
        raise FormatVersionError("run %s has format version %s; this bmtrace writes version %d: upgrade "
                                 "bmtrace to add to it" % (path, doc.get("format_version"), layout.FORMAT_VERSION))
    return doc


def _finalize_run(rec, build_index=True):
    try:
        run_file = os.path.join(rec.path, layout.RUN_FILE)
        doc = layout.read_json(run_file)
        doc["ended"] = now()
        layout.write_json_atomic(run_file, doc)
    except Exception as exc:
        rec.report_failure(exc, "stamping the end of the run")
        return
    if not build_index:
        return
    try:
        from .store.index import build_index_if_possible

        build_index_if_possible(rec.path)
    except Exception as exc:  # the journals stay the source of truth; the index is rebuilt on read
        rec.warn_once("index", "could not build %s/index.parquet (%s: %s); it will be built on first read"
                      % (rec.path, type(exc).__name__, exc))


def _export_env(rec):
    """Workers started with spawn inherit these and join the run instead of starting their own."""
    _saved_env.clear()
    for key in _ENV_VARS:
        _saved_env[key] = os.environ.get(key)
    os.environ["BMTRACE_DIR"] = rec.path
    os.environ["BMTRACE_JOIN"] = rec.path
    os.environ["BMTRACE_MODE"] = rec.mode
    if rec.side is not None:
        os.environ["BMTRACE_SIDE"] = str(rec.side)


def _restore_env():
    for key, value in _saved_env.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
    _saved_env.clear()


def _install_hooks():
    global _hooks_installed
    if _hooks_installed:
        return
    _hooks_installed = True
    atexit.register(_stop_at_exit)
    if hasattr(os, "register_at_fork"):
        os.register_at_fork(after_in_child=_after_fork_in_child)


def _stop_at_exit():
    try:
        stop(_at_exit=True)
    except Exception as exc:
        print("bmtrace: could not close the run at exit: %s" % exc, file=sys.stderr)


def _after_fork_in_child():
    rec = _state.recorder
    if rec is not None:
        rec.forget_writer_after_fork()
        rec.owner = False  # the parent finalises the run


def _check_mode(mode, where):
    if mode not in MODES:
        raise UsageError("%s must be one of %s, got %r" % (where, ", ".join(MODES), mode))
