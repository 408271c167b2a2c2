"""Process-wide tracing state: the one check on the disabled path, and per-context stacks.

``recorder`` is None when no run is active; ``env_pending`` is True when BMTRACE_DIR asks for a run
to start at the first traced call. A decorated call with neither set costs one attribute check.
"""
from __future__ import annotations

import contextvars
import os

recorder = None
env_pending = bool(os.environ.get("BMTRACE_DIR"))
hot = env_pending  # recorder is not None or env_pending: the single check a traced call makes


# Called after every refresh(): bmtrace.auto applies its library patches while a run is active or
# pending and removes them when it stops. Empty unless bmtrace.auto() or BMTRACE_AUTO asked for it.
listeners = []


def refresh():
    """Recompute ``hot`` after changing ``recorder`` or ``env_pending``."""
    global hot
    hot = recorder is not None or env_pending
    if listeners or (hot and os.environ.get("BMTRACE_AUTO")):
        if not listeners:
            try:
                from .auto import control  # registers its listener on import

                control.request_from_env()
            except Exception as exc:  # never break start()/stop() over automatic tracing
                import sys

                print("bmtrace: BMTRACE_AUTO ignored: %s: %s" % (type(exc).__name__, exc), file=sys.stderr)
        for listener in list(listeners):
            listener()

# Per-context (thread, task) state: the current sample key and the stack of open stage calls.
current_sample: contextvars.ContextVar = contextvars.ContextVar("bmtrace_sample", default=None)
stage_stack: contextvars.ContextVar = contextvars.ContextVar("bmtrace_stage_stack", default=())
