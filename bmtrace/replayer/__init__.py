"""Replay: feed a run's recorded stage inputs into a function and compare with the recorded outputs.

Given identical inputs, a stage's own (local) error is separated from the error it inherited from
earlier stages: the vendor's alignment method, automated.
"""
from __future__ import annotations

import traceback
import warnings

import numpy as np

from ..codecs import flatten
from ..compare import Status, ToleranceRules, compare_arrays, compare_values
from ..errors import ReplayError
from ..store.reader import ANY_SAMPLE, Run, open_run
from .inputs import bind_to_signature, rebuild_values
from .target import load_target, target_from_identity, unwrap_traced
from .trust import ImportPolicy

__all__ = ["ReplayResult", "SampleReplay", "replay"]


def replay(run, stage, fn=None, *, sample=ANY_SAMPLE, occurrence=None, inputs=None, like=None, rules=None,
           trust_recorded=False, **tolerances):
    """Call ``fn`` with the recorded inputs of ``stage`` and compare its result with the recorded outputs.

    Args:
        run: run directory or Run whose recorded inputs and outputs are used.
        stage: stage name in that run.
        fn: the function to call, or a string ``path/file.py:function`` / ``module:function`` (your
            explicit choice), or None: the stage function recorded by ``like`` (else by ``run``), imported
            only if it is defined in your own source files (see ``bmtrace.replayer.trust``).
        sample: only this sample key (None is the key of records outside any sample).
        occurrence: only this occurrence of the stage within each sample.
        inputs: values that override or supply inputs by name (e.g. an object that was not recordable).
        like: a run recorded by ``fn``'s own program: its records say whether an input was a PIL image
            or a torch tensor, so the other program's arrays are handed over in that form.
        rules / tolerances: ToleranceRules, or keyword tolerances as for bmtrace.diff (atol, rtol).
        trust_recorded: with ``fn=None``, import whatever function the trace names (only for runs you trust).

    Returns:
        ReplayResult: ``bool()`` is True when every replayed output is equal or close.

    Example:
        result = bmtrace.replay("runs/port", "resize", original.resize)
        print(result)
    """
    run = run if isinstance(run, Run) else open_run(run)
    like = like if like is None or isinstance(like, Run) else open_run(like)
    calls = run.calls(sample=sample, stage=stage)
    if occurrence is not None:
        calls = [c for c in calls if c.occurrence == occurrence]
    if not calls:
        raise ReplayError(_nothing_to_replay(run, stage, sample, occurrence))
    imported = []
    if fn is None:
        target = _recorded_target(like or run, stage, trust_recorded, imported)
    elif isinstance(fn, str):
        target = load_target(fn)
        imported.append("%s (given)" % fn)
    else:
        target = fn
    target = unwrap_traced(target)
    rules = rules or ToleranceRules(**tolerances)
    templates = _templates(like, stage)
    result = ReplayResult(run.path, stage, getattr(target, "__qualname__", repr(target)))
    result.imported = imported
    for call in calls:
        result.samples.append(replay_call(call, target, rules, inputs, templates))
    return result


def replay_call(call, target, rules, overrides=None, templates=None):
    """Replay one recorded call; never raises for the function's own errors (they are the result)."""
    entry = SampleReplay(call.sample, call.occurrence, call.id)
    try:
        values = rebuild_values(call.inputs, templates)
        values.update(overrides or {})
        args, kwargs = bind_to_signature(target, values, call.stage)
    except ReplayError as exc:
        entry.status, entry.error = Status.ERROR, {"type": "ReplayError", "message": str(exc)}
        raise
    try:
        result = target(*args, **kwargs)
    except Exception as exc:
        entry.status = Status.ERROR
        entry.error = {"type": type(exc).__name__, "message": str(exc)}
        where = _where_raised(exc)
        if where:
            entry.error["where"] = where
        hint = _type_hint(exc, values, templates)
        if hint:
            entry.error["hint"] = hint
        return entry
    entry.tensors = compare_outputs(call, result, rules)
    entry.status = Status.ALIGNED if all(t.passed for t in entry.tensors) else Status.DIVERGED
    return entry


def compare_outputs(call, result, rules):
    """Recorded outputs (A) against the replayed result (B), paired by name, else by position."""
    leaves = [leaf for leaf in flatten(result, "out") if leaf.array is not None or leaf.kind in ("none", "str")]
    recorded = [t for t in call.outputs if t.is_array or t.kind in ("none", "str")]
    by_name = {leaf.name: leaf for leaf in leaves}
    pairs = []
    if all(t.name in by_name for t in recorded):
        pairs = [(t, by_name[t.name]) for t in recorded]
    elif len(recorded) == len(leaves):
        warnings.warn("stage %r: replayed outputs %s do not match recorded names %s; pairing by position"
                      % (call.stage, [l.name for l in leaves], [t.name for t in recorded]), stacklevel=3)
        pairs = list(zip(recorded, leaves))
    else:
        raise ReplayError("stage %r: the function returned %s but the run recorded outputs %s; they cannot be "
                          "paired" % (call.stage, [l.name for l in leaves] or "nothing", [t.name for t in recorded]))
    comparisons = []
    for tensor, leaf in pairs:
        if leaf.array is None or not tensor.is_array:
            comparison = compare_values(tensor.value, leaf.value, name=tensor.name, role="output",
                                        kind_a=tensor.kind, kind_b=leaf.kind)
        else:
            comparison = compare_arrays(tensor.load(), leaf.array, name=tensor.name, role="output", stage=call.stage,
                                        rules=rules, meta_a=tensor.meta, meta_b=leaf.meta)
        comparisons.append(comparison)
    return comparisons


def _recorded_target(source, stage, trust_recorded, imported):
    """The stage function ``source``'s trace names, if the trust model lets it be imported."""
    calls = source.calls(stage=stage)
    if not calls:
        raise ReplayError(_nothing_to_replay(source, stage, ANY_SAMPLE, None))
    policy = ImportPolicy.for_run(source, trust_recorded=trust_recorded)
    target = target_from_identity(calls[0].function, policy)
    imported.extend(policy.imported)
    return target


def _where_raised(exc):
    """file:line in function of the innermost frame, so the user sees where their function failed."""
    frames = traceback.extract_tb(exc.__traceback__)
    if not frames:
        return None
    last = frames[-1]
    return "%s:%d in %s" % (last.filename, last.lineno, last.name)


def _type_hint(exc, values, templates):
    """When a function got numpy arrays and failed on them, say how to hand it the types it expects."""
    if templates or not isinstance(exc, (AttributeError, TypeError)):
        return None
    arrays = sorted(name for name, value in values.items() if isinstance(value, np.ndarray))
    if not arrays:
        return None
    return ("it was given numpy arrays for %s (the run recorded them as arrays); if it expects torch tensors or PIL "
            "images, replay with --against RUN recorded by the function's own program (library: like=RUN) so "
            "the inputs are converted to the types that program recorded" % ", ".join(arrays))


def _templates(like, stage):
    if like is None:
        return {}
    calls = like.calls(stage=stage)
    return {t.name: t for t in calls[0].inputs} if calls else {}


def _nothing_to_replay(run, stage, sample, occurrence):
    stages = run.stages()
    if stage not in stages:
        return "run %s has no stage %r; its stages are: %s" % (run.path, stage, ", ".join(stages) or "none")
    samples = sorted({str(c.sample) for c in run.calls(stage=stage)})
    return ("run %s has no call of stage %r for sample %r%s; that stage was recorded for samples: %s"
            % (run.path, stage, None if sample is ANY_SAMPLE else sample,
               "" if occurrence is None else " occurrence %d" % occurrence, ", ".join(samples[:20])))


class SampleReplay:
    """The replay of one recorded call: status and per-output comparisons."""

    def __init__(self, sample, occurrence, call_id):
        self.sample, self.occurrence, self.call_id = sample, occurrence, call_id
        self.status = None
        self.tensors = []
        self.error = None

    @property
    def passed(self):
        return self.status == Status.ALIGNED

    def worst(self):
        diffs = [t.max_abs_diff for t in self.tensors if t.max_abs_diff is not None]
        cosines = [t.cosine for t in self.tensors if t.cosine is not None]
        return (max(diffs) if diffs else None, min(cosines) if cosines else None)

    def metrics(self):
        """The headline metrics of the worst output, as the JSON of a tensor comparison."""
        failing = [t for t in self.tensors if not t.passed]
        worst = max(failing or self.tensors, key=lambda t: t.max_abs_diff or 0.0, default=None)
        doc = worst.to_json() if worst is not None else {}
        doc["status"] = self.status
        if self.error:
            doc["error"] = self.error
        return doc

    def to_json(self):
        return {"sample": self.sample, "occurrence": self.occurrence, "call": self.call_id, "status": self.status,
                "error": self.error, "tensors": [t.to_json() for t in self.tensors]}


class ReplayResult:
    """Per-sample replay results of one stage; ``bool()`` is True when every sample is aligned."""

    def __init__(self, run, stage, function):
        self.run, self.stage, self.function = run, stage, function
        self.samples = []
        self.imported = []  # what replay imported to get the function, for the user to see

    @property
    def passed(self):
        return bool(self.samples) and all(s.passed for s in self.samples)

    def __bool__(self):
        return self.passed

    def __str__(self):
        counts = {}
        for s in self.samples:
            counts[s.status] = counts.get(s.status, 0) + 1
        diffs = [s.worst()[0] for s in self.samples if s.worst()[0] is not None]
        return "replay of %s into %s: %s over %d call(s)%s" % (
            self.stage, self.function, "ALIGNED" if self.passed else "NOT ALIGNED", len(self.samples),
            "; worst max abs diff %.4g" % max(diffs) if diffs else "") + (
            " (%s)" % ", ".join("%d %s" % (n, k) for k, n in sorted(counts.items())) if len(counts) > 1 else "")

    def to_json(self):
        return {"run": self.run, "stage": self.stage, "function": self.function, "aligned": self.passed,
                "imported": list(self.imported), "samples": [s.to_json() for s in self.samples]}
