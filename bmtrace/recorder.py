"""The active run of this process: configuration, the per-process writer, failure policy, and
activation (start, stop, BMTRACE_DIR at the first traced call, exit and fork hooks).

Recording must never break the user's program: every failure inside bmtrace is reported once on
stderr and recording carries on (or stops, for I/O errors); ``strict=True`` raises instead.
"""
from __future__ import annotations

import atexit
import os
import sys
import threading

from . import _state
from .errors import RunExistsError, StoreError, UsageError
from .store import run_dir
from .store.schema import MODES
from .store.writer import ProcessWriter



class Recorder:
    """Records stage calls of this process into one run directory."""

    def __init__(self, path, side, mode, stage_modes, payload_cap_bytes, strict, owner):
        self.path = path
        self.side = side
        self.mode = mode
        self.stage_modes = dict(stage_modes or {})
        self.payload_cap_bytes = payload_cap_bytes
        self.strict = strict
        self.owner = owner  # True in the process that started the run; joined workers are not owners
        self.broken = False
        self._reported = set()
        self._writer = None
        self._writer_lock = threading.Lock()
        self.follower = None  # the closed journal's index_ahead.Follower, for the index build

    # -- writer per process (fork gives the child a fresh one) ------------------------------------
    def writer(self):
        writer = self._writer
        if writer is None or writer.pid != os.getpid():
            with self._writer_lock:
                writer = self._writer
                if writer is None or writer.pid != os.getpid():
                    writer = ProcessWriter(self.path, self.payload_cap_bytes, follow_journal=self.owner)
                    writer.open()
                    self._writer = writer
        return writer

    def forget_writer_after_fork(self):
        self._writer = None
        self._writer_lock = threading.Lock()

    def close_writer(self):
        writer = self._writer
        if writer is not None and writer.pid == os.getpid():
            self.follower = writer.follower
            try:
                writer.close()
            except Exception as exc:
                self.report_failure(exc, "closing the run")
        self._writer = None

    def mode_for(self, stage, override):
        return override or self.stage_modes.get(stage) or self.mode

    # -- failure policy ----------------------------------------------------------------------------
    def report_failure(self, exc, doing):
        """Report once per kind of failure; raise in strict mode; stop recording on I/O errors."""
        if self.strict:
            if isinstance(exc, StoreError):
                raise exc
            raise StoreError("bmtrace failed while %s in run %s: %s: %s" % (doing, self.path, type(exc).__name__, exc)) from exc
        key = (type(exc), doing)
        if isinstance(exc, OSError):
            self.broken = True
            key = "io"
        if key in self._reported:
            return
        self._reported.add(key)
        if isinstance(exc, OSError):
            message = ("bmtrace: cannot write to run %s (%s: %s) while %s; recording stopped, records written "
                       "before this are kept; your program continues. Free space or fix permissions, or pass "
                       "strict=True to make this an error." % (self.path, type(exc).__name__, exc, doing))
        else:
            message = ("bmtrace: internal error while %s (%s: %s); this value is skipped and your program "
                       "continues. Please report it with the traceback from strict=True." % (doing, type(exc).__name__, exc))
        print(message, file=sys.stderr)

    def warn_once(self, key, message):
        if key not in self._reported:
            self._reported.add(key)
            print("bmtrace: " + message, file=sys.stderr)


# -- the active run of this process: start, stop, BMTRACE_DIR, exit and fork ---------------------------
_ENV_VARS = ("BMTRACE_DIR", "BMTRACE_SIDE", "BMTRACE_MODE", "BMTRACE_JOIN")
_saved_env = {}
_hooks_installed = False


def check_mode(mode, where):
    if mode not in MODES:
        raise UsageError("%s must be one of %s, got %r" % (where, ", ".join(MODES), mode))


active_recorder = _state.active_recorder  # the recorder of the active run; starts a BMTRACE_DIR run


def start_from_env():
    """BMTRACE_DIR asks for a run at the first traced call; BMTRACE_JOIN marks a worker of a run."""
    path = os.environ.get("BMTRACE_DIR")
    if not path:
        return None
    path = os.path.abspath(path)
    joining = os.environ.get("BMTRACE_JOIN") == path
    mode = os.environ.get("BMTRACE_MODE") or "full"
    strict = os.environ.get("BMTRACE_STRICT", "") not in ("", "0")
    try:
        check_mode(mode, "BMTRACE_MODE")
        activate(path, os.environ.get("BMTRACE_SIDE") or None, mode,
                 os.environ.get("BMTRACE_OVERWRITE", "") not in ("", "0"), False, None, strict, None,
                 joining=joining)
    except Exception as exc:
        if strict:
            raise
        hint = ("; set BMTRACE_OVERWRITE=1 to replace the old run" if isinstance(exc, RunExistsError)
                and "BMTRACE_OVERWRITE" not in str(exc) else "")
        print("bmtrace: not recording: %s%s" % (exc, hint), file=sys.stderr)
        return None
    return _state.recorder


def activate(path, side, mode, overwrite, append, payload_cap_bytes, strict, stage_modes, joining):
    """Make ``path`` the active run of this process (creating, appending to or joining it)."""
    if joining:
        doc = run_dir.join(path)
    else:
        doc = run_dir.prepare(path, overwrite, append)
    if doc is not None:  # appending to or joining an existing run keeps its settings unless given
        side = side if side is not None else doc.get("side")
    else:
        run_dir.write_new(path, side, mode, stage_modes, payload_cap_bytes)
    # The index is built at exit, when importing concurrent.futures.thread (pyarrow's pandas check
    # pulls it in) is no longer allowed: import it now, it is stdlib and light.
    import concurrent.futures.thread  # noqa: F401
    rec = Recorder(path, side, mode, stage_modes, payload_cap_bytes, strict, owner=not joining)
    if os.environ.get("BMTRACE_SUBSTITUTE"):  # a substitution run (bmtrace substitute / attribute)
        from .replayer.substitute import attach_from_env

        attach_from_env(rec)
    _state.recorder = rec
    _state.refresh()
    _auto_from_env()
    _install_hooks()
    _export_env(rec)
    return path


def deactivate():
    """End the active run of this process: close its journal; the owner stamps the end and builds
    the index. Returns the run path, or None when no run was active."""
    rec = _state.recorder
    _state.env_pending = False
    _state.recorder = None
    _state.refresh()
    if rec is None:
        return None
    rec.close_writer()
    if rec.owner:
        finalize(rec)
    _restore_env()
    return rec.path


def finalize(rec):
    """Stamp the end time of ``rec``'s run and build its index (failures reported by ``rec``)."""
    try:
        run_dir.stamp_end(rec.path)
    except Exception as exc:
        rec.report_failure(exc, "stamping the end of the run")
        return
    try:
        from .store.index import build_index_if_available

        build_index_if_available(rec.path, rec.follower)
    except Exception as exc:  # the journals stay the source of truth; the index can be rebuilt
        rec.warn_once("index", "could not build %s/index.parquet (%s: %s); build it later with "
                      "`python -m bmtrace.store.index %s`" % (rec.path, type(exc).__name__, exc, rec.path))
    finally:
        if rec.follower is not None:
            rec.follower.discard()


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
        deactivate()
    except Exception as exc:
        print("bmtrace: could not close the run at exit: %s" % exc, file=sys.stderr)


def _after_fork_in_child():
    rec = _state.recorder
    if rec is not None:
        rec.forget_writer_after_fork()
        rec.owner = False  # the parent finalises the run


_state.env_starter = start_from_env


def _auto_from_env():
    """BMTRACE_AUTO=cv2,PIL,...: patch those libraries while this run is active (bmtrace.auto)."""
    if not os.environ.get("BMTRACE_AUTO") or _state.listeners:
        return
    try:
        from .auto import control  # registers its listener on import

        control.request_from_env()
        _state.refresh()
    except Exception as exc:  # never break start() over automatic tracing
        print("bmtrace: BMTRACE_AUTO ignored: %s: %s" % (type(exc).__name__, exc), file=sys.stderr)
