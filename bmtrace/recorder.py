"""The active run of this process: configuration, the per-process writer, and failure policy.

Recording must never break the user's program: every failure inside bmtrace is reported once on
stderr and recording carries on (or stops, for I/O errors); ``strict=True`` raises instead.
"""
from __future__ import annotations

import os
import sys
import threading

from .errors import StoreError
from .store.writer import ProcessWriter

MODES = ("full", "stats")


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

    # -- writer per process (fork gives the child a fresh one) ------------------------------------
    def writer(self):
        writer = self._writer
        if writer is None or writer.pid != os.getpid():
            with self._writer_lock:
                writer = self._writer
                if writer is None or writer.pid != os.getpid():
                    writer = ProcessWriter(self.path, self.payload_cap_bytes)
                    writer.open()
                    self._writer = writer
        return writer

    def forget_writer_after_fork(self):
        self._writer = None
        self._writer_lock = threading.Lock()

    def close_writer(self):
        writer = self._writer
        if writer is not None and writer.pid == os.getpid():
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
