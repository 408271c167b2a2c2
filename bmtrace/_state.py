"""Process-wide tracing state: the one check on the disabled path, and per-context stacks.

``recorder`` is None when no run is active; ``env_pending`` is True when BMTRACE_DIR asks for a run
to start at the first traced call. A decorated call with neither set costs one attribute check.
"""
from __future__ import annotations

import contextvars
import os
import threading

recorder = None
env_pending = bool(os.environ.get("BMTRACE_DIR"))
hot = env_pending  # recorder is not None or env_pending: the single check a traced call makes


# Set by bmtrace.recorder: starts the BMTRACE_DIR run (returns its recorder or None).
env_starter = None
_env_start_lock = threading.Lock()


def active_recorder():
    """The recorder of the active run, starting the BMTRACE_DIR run at the first traced call."""
    global env_pending
    rec = recorder
    if rec is None and env_pending:
        # Threads making their first traced call together must all wait for the one start, or the
        # calls racing it would be dropped.
        with _env_start_lock:
            rec = recorder
            if rec is None and env_pending and env_starter is not None:
                try:
                    rec = env_starter()
                finally:
                    env_pending = False
                    refresh()
    return rec


# Called after every refresh(): bmtrace.auto applies its library patches while a run is active or
# pending and removes them when it stops. Empty unless bmtrace.auto() or BMTRACE_AUTO (read by
# bmtrace.recorder when a run activates) asked for it.
listeners = []


def refresh():
    """Recompute ``hot`` after changing ``recorder`` or ``env_pending``."""
    global hot
    hot = recorder is not None or env_pending
    for listener in list(listeners):
        listener()


# Per-context (thread, task) state: the current sample key and the stack of open stage calls.
current_sample: contextvars.ContextVar = contextvars.ContextVar("bmtrace_sample", default=None)
stage_stack: contextvars.ContextVar = contextvars.ContextVar("bmtrace_stage_stack", default=())
