"""One stage call in progress: fresh per call, so recursion, threads and async stay correct."""
from __future__ import annotations

import os
import threading
import time

from . import _state
from .codecs import flatten


class StageCall:
    """Collects the inputs and outputs of one call of a stage and commits them as one record."""

    def __init__(self, recorder, stage, meta, mode, function):
        self._recorder = recorder
        self._writer = recorder.writer()
        self.seq = self._writer.next_seq()
        self.id = "%s:%d" % (self._writer.token, self.seq)
        self.stage = stage
        self.sample = _state.current_sample.get()
        stack = _state.stage_stack.get()
        self.parent = stack[-1].id if stack else None
        self.function = function
        self.mode = recorder.mode_for(stage, mode)
        self._shared_meta, self._tensor_meta = _split_meta(meta)
        self._inputs, self._outputs = [], []
        self._leaf_count = 0
        self._finished = False
        self.t_start = time.time()

    # -- user-facing (the `with trace_stage(...) as st` handle) --------------------------------------
    def input(self, **named):
        """Record named inputs now, before the stage can modify them in place."""
        for name, value in named.items():
            self._add("input", name, value)
        return self

    def output(self, *value, **named):
        """Record the stage result: one positional value (named ``out``) and/or named values."""
        if len(value) > 1:
            raise TypeError("st.output() takes at most one positional value (got %d); name the others: "
                            "st.output(boxes=b, scores=s)" % len(value))
        if value:
            self._add("output", "out", value[0])
        for name, item in named.items():
            self._add("output", name, item)
        return self

    # -- recorder side -------------------------------------------------------------------------------
    def _add(self, role, name, value):
        if self._recorder.broken or self._finished:
            return
        try:
            leaves = flatten(value, name, self._shared_meta)
            for leaf in leaves:
                extra = self._tensor_meta.get(leaf.name) or self._tensor_meta.get(name)
                if extra:
                    leaf.meta = dict(leaf.meta, **extra)
            entries = self._writer.store_leaves(leaves, role, self.seq, self._leaf_count, self.mode == "full")
            self._leaf_count += len(leaves)
            (self._inputs if role == "input" else self._outputs).extend(entries)
            if self._writer.cap_reached:
                self._recorder.warn_once("cap", "run payload cap of %d bytes reached in %s; further payloads "
                                         "are skipped (statistics and hashes are still recorded)"
                                         % (self._recorder.payload_cap_bytes, self._recorder.path))
        except Exception as exc:
            self._recorder.report_failure(exc, "recording %s %r of stage %r" % (role, name, self.stage))

    def finish(self, error=None):
        """Commit the record; ``error`` is the exception the stage raised, if any."""
        if self._finished or self._recorder.broken:
            return
        self._finished = True
        try:
            record = {
                "id": self.id,
                "seq": self.seq,
                "writer": self._writer.token,
                "pid": os.getpid(),
                "thread": threading.current_thread().name,
                "sample": self.sample,
                "stage": self.stage,
                "parent": self.parent,
                "function": self.function,
                "mode": self.mode,
                "t_start": self.t_start,
                "t_end": time.time(),
                "error": None if error is None else {"type": _exc_type(error), "message": str(error)},
                "inputs": self._inputs,
                "outputs": self._outputs,
            }
            self._writer.commit(record)
        except Exception as exc:
            self._recorder.report_failure(exc, "committing a call of stage %r" % self.stage)


class NullStageCall:
    """The handle a `with trace_stage(...)` block gets when no run is active: records nothing."""

    id = None

    def input(self, **named):
        return self

    def output(self, *value, **named):
        return self

    def finish(self, error=None):
        pass


NULL_CALL = NullStageCall()


def _split_meta(meta):
    """Stage meta: plain keys apply to every tensor; dict values apply to the tensor of that name."""
    if not meta:
        return {}, {}
    shared = {k: v for k, v in meta.items() if not isinstance(v, dict)}
    per_tensor = {k: v for k, v in meta.items() if isinstance(v, dict)}
    return shared, per_tensor


def _exc_type(exc):
    cls = type(exc)
    return cls.__qualname__ if cls.__module__ == "builtins" else "%s.%s" % (cls.__module__, cls.__qualname__)
