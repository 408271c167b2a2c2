"""One stage call in progress: fresh per call, so recursion, threads and async stay correct.

Return values (the contract `with` blocks rely on): ``st.input(img=img)`` returns ``img`` (a tuple
in keyword order when several are given) and ``st.output(out)`` returns the value the program should
continue with (the positional value; with only named values, the value or a tuple of them in keyword
order). Without a substitution plan both are the identity, at the cost of one check.

Substitution hook: a recorder whose ``substitution`` attribute is not None (None by default, and
whenever the attribute is missing) is asked for every value::

    value = recorder.substitution.replace(call, role, name, value)   # role: "input" | "output"

and the stage continues with what it returns. This is the only place values can be replaced. A record
always describes what the stage's code saw and made: inputs are recorded after substitution (what the
stage received), outputs before it (what the stage produced; the program continues with the plan's).
"""
from __future__ import annotations

import os
import threading
import time

from . import _state
from .codecs import flatten
from .errors import UsageError

# Declared prediction kinds (meta["kind"] of output tensors) and box formats (meta["box_format"]).
PREDICTION_KINDS = ("detections", "classification", "segmentation")
BOX_FORMATS = ("xyxy", "xywh", "cxcywh")


class StageCall:
    """Collects the inputs and outputs of one call of a stage and commits them as one record."""

    def __init__(self, recorder, stage, meta, mode, function, declared=None):
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
        self._declared = declared  # {"kind": ..., "box_format": ...} for the outputs, or None
        self._substitution = getattr(recorder, "substitution", None)
        self._inputs, self._outputs = [], []
        self._leaf_count = 0
        self._finished = False
        self.t_start = time.time()

    # -- user-facing (the `with trace_stage(...) as st` handle) --------------------------------------
    def input(self, **named):
        """Record named inputs now, before the stage can modify them in place.

        Returns the value (a tuple in keyword order when several are given): ``img = st.input(img=img)``.
        """
        return _returned(self.take_inputs(named))

    def take_inputs(self, named):
        """Record the ``{name: value}`` inputs; returns them, as substituted when a plan is active."""
        for name, value in named.items():
            if self._substitution is not None:
                value = named[name] = self._substitute("input", name, value)
            self._add("input", name, value)
        return named

    @property
    def substitutes(self):
        """Whether a substitution plan may replace this call's values."""
        return self._substitution is not None

    def output(self, *value, kind=None, box_format=None, **named):
        """Record the stage result: one positional value (named ``out``) and/or named values.

        ``kind`` ("detections", "classification", "segmentation") declares what the values predict and
        ``box_format`` ("xyxy", "xywh", "cxcywh") how detection boxes are written; both go to the
        outputs' meta and override the stage's own declaration.

        Returns the value the program should continue with: the positional value, else the named
        value (a tuple in keyword order when several are given).
        """
        if len(value) > 1:
            raise TypeError("st.output() takes at most one positional value (got %d); name the others: "
                            "st.output(boxes=b, scores=s)" % len(value))
        declared = self._declared
        if kind is not None or box_format is not None:
            declared = _override(declared, declaration(kind, box_format, "st.output(...)"))
        if value:
            self._add("output", "out", value[0], declared)
            if self._substitution is not None:
                value = (self._substitute("output", "out", value[0]),)
        for name, item in named.items():
            self._add("output", name, item, declared)
            if self._substitution is not None:
                named[name] = self._substitute("output", name, item)
        return value[0] if value else _returned(named)

    # -- recorder side -------------------------------------------------------------------------------
    def _substitute(self, role, name, value):
        try:
            return self._substitution.replace(self, role, name, value)
        except Exception as exc:  # a failing plan must not break the program: it keeps its own value
            if self._recorder.strict:
                raise
            self._recorder.warn_once(("substitution", self.stage, role, name),
                                     "could not substitute %s %r of stage %r (%s: %s); the program continues "
                                     "with its own value" % (role, name, self.stage, type(exc).__name__, exc))
            return value

    def _add(self, role, name, value, declared=None):
        if self._recorder.broken or self._finished:
            return
        try:
            leaves = flatten(value, name, self._shared_meta)
            for leaf in leaves:
                extra = self._tensor_meta.get(leaf.name) or self._tensor_meta.get(name)
                if extra:
                    leaf.meta = dict(leaf.meta, **extra)
                if declared:
                    leaf.meta = dict(leaf.meta, **declared)
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
        if len(named) == 1:  # the common case, without a function call
            for value in named.values():
                return value
        return _returned(named)

    def output(self, *value, kind=None, box_format=None, **named):
        if len(value) > 1:
            raise TypeError("st.output() takes at most one positional value (got %d); name the others: "
                            "st.output(boxes=b, scores=s)" % len(value))
        if kind is not None or box_format is not None:
            declaration(kind, box_format, "st.output(...)")  # the same errors with tracing off
        return value[0] if value else _returned(named)

    def finish(self, error=None):
        pass


NULL_CALL = NullStageCall()


def declaration(kind, box_format, where):
    """The output meta declaring ``kind``/``box_format``; UsageError naming the allowed values."""
    if kind is not None and (not isinstance(kind, str) or kind not in PREDICTION_KINDS):
        raise UsageError("%s: kind=%s is not a prediction kind; use one of %s, or None (kind and box_format "
                         "are reserved: name an output value otherwise)"
                         % (where, _short(kind), ", ".join(repr(k) for k in PREDICTION_KINDS)))
    if box_format is not None and (not isinstance(box_format, str) or box_format not in BOX_FORMATS):
        raise UsageError("%s: box_format=%s is not a box format; use one of %s, or None"
                         % (where, _short(box_format), ", ".join(repr(f) for f in BOX_FORMATS)))
    if box_format is not None and kind not in (None, "detections"):
        raise UsageError("%s: box_format=%r describes detection boxes, but kind=%r; use kind=\"detections\" "
                         "or drop box_format" % (where, box_format, kind))
    declared = {}
    if kind is not None:
        declared["kind"] = kind
    if box_format is not None:
        declared["box_format"] = box_format
    return declared


def _short(value):
    text = repr(value) if isinstance(value, str) else "<%s>" % type(value).__name__
    return text if len(text) <= 40 else text[:37] + "..."


def _override(stage_declared, call_declared):
    """A call's declaration over its stage's: a new kind drops the stage's box format."""
    if not stage_declared:
        return call_declared
    merged = {} if "kind" in call_declared else dict(stage_declared)
    merged.update(call_declared)
    return merged


def _returned(named):
    """What st.input()/st.output() hand back for named values: the one value, or a tuple in keyword order."""
    if len(named) == 1:
        for value in named.values():
            return value
    return tuple(named.values()) if named else None


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


def open_call(rec, stage, meta, mode, identity, declared=None):
    """A StageCall, or None when the run is broken; ``declared`` is the outputs' kind/box_format meta."""
    if rec.broken:
        return None
    try:
        return StageCall(rec, stage, meta, mode, identity, declared)
    except Exception as exc:
        rec.report_failure(exc, "opening a call of stage %r" % stage)
        return None
