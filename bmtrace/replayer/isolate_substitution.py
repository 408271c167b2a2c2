"""Isolation for every stage: what replay cannot test, a substitution re-run of program B can.

Replay calls A's stage function on B's recorded inputs; it cannot test `with` blocks, methods, or
functions whose parameters differ from the other side's. With consent to re-run program B (a command,
or ``--trust-recorded`` for the one recorded in B's run), such a stage is tested by running B with A's
inputs substituted at that stage: it introduces error when B's stage, fed A's inputs, still differs
from A's outputs beyond tolerance. Each stage entry says how it was tested (``tested_by``: "replay",
"substitution" or None with ``untested_reason``), and the isolation summary lists untested stages, so
nothing untested is ever said to "only inherit" error.
"""
from __future__ import annotations

import os
import shutil
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor

from ..compare import Status
from ..errors import BmtraceError

CONSENT_FLAGS = "--trust-recorded (re-runs the command recorded in run B) or --rerun \"COMMAND\""


def complete_isolation(result, run_a, run_b, rerun=None, jobs=None, log=None):
    """Set ``tested_by``/``untested_reason`` on every entry; test what replay could not when ``rerun``
    (a rerun.Program that runs program B) is given."""
    log = log or (lambda line: print("bmtrace: isolate: " + line, file=sys.stderr))
    untested = {}
    for entry in result.stages:
        if entry.status == Status.ALIGNED:
            _mark(entry, None, "aligned: nothing to isolate")
        elif entry.status != Status.DIVERGED:
            _mark(entry, None, "status %s: only diverged stages are isolated" % entry.status)
        elif entry.introduces is not None:
            _mark(entry, "replay")
        else:
            untested.setdefault(entry.stage, []).append(entry)
    if untested and rerun is not None:
        if rerun.recorded_from:
            log("re-running the command recorded in %s to test %s by substitution:\n  %s"
                % (rerun.recorded_from, ", ".join(untested), rerun.describe()))
        _test_by_substitution(result, run_a, run_b, untested, rerun, jobs, log)
    for stage, entries in untested.items():
        for entry in entries:
            if entry.extra.get("tested_by") == "substitution":
                continue
            reason = entry.extra.get("untested_reason") or (entry.local or {}).get("reason") \
                or (entry.local or {}).get("error", {}).get("message") or "replay gave no verdict"
            if rerun is None:
                reason += "; test it by substitution with %s" % CONSENT_FLAGS
            _mark(entry, None, reason)


def finish_summary(isolation, result):
    """Add ``untested`` (stage -> reason) to the isolation summary; its message names untested stages
    and never says every stage only inherits error when some were not tested."""
    order = {name: i for i, name in enumerate(result.stage_order)}
    untested = {}
    for entry in result.stages:
        if entry.status == Status.DIVERGED and entry.introduces is None:
            untested.setdefault(entry.stage, entry.extra.get("untested_reason"))
    isolation["untested"] = [{"stage": s, "reason": untested[s]} for s in sorted(untested, key=lambda s: order.get(s, 0))]
    isolation["tested_by"] = {e.stage: e.extra.get("tested_by") for e in result.stages
                              if e.status == Status.DIVERGED}
    if not untested:
        return isolation
    message = isolation.get("message") or ""
    if message.startswith("every diverged stage only inherits"):
        message = "every tested stage (%s) only inherits error given identical inputs" % ", ".join(
            isolation.get("inheriting") or ())
    names = ", ".join(s["stage"] for s in isolation["untested"])
    tail = "" if "not tested:" in message else "not tested: %s" % names  # summarize may have said it
    if any(CONSENT_FLAGS in (s["reason"] or "") for s in isolation["untested"]):
        tail += "%s(test with %s)" % (" " if tail else "", CONSENT_FLAGS)
    if tail:
        isolation["message"] = "%s%s%s" % (message, "; " if message and not tail.startswith("(") else " ",
                                           tail) if message else tail
    return isolation


def _mark(entry, tested_by, reason=None):
    entry.extra["tested_by"] = tested_by
    if tested_by is None:
        entry.extra["untested_reason"] = reason
    else:
        entry.extra.pop("untested_reason", None)


def _compare_stage(run_a, path, stage_a, stage_b, rules):
    """The re-run's calls of one stage compared with A's (the diff's own pairing and ladder; not
    ``bmtrace.diff`` itself, which runs isolation)."""
    from ..diff.align import align
    from ..diff.pairs import ContentCache, compare_pair
    from ..store.reader import open_run

    alignment = align(run_a, open_run(path), {stage_a: stage_b} if stage_b != stage_a else {})
    cache, notes = ContentCache(), []
    return [compare_pair(pair, rules, notes, cache) for pair in alignment.pairs
            if pair.stage == stage_a]


def _test_by_substitution(result, run_a, run_b, untested, program, jobs, log):
    from .rerun import run_with_plan
    from .substitute import make_plan

    workdir = tempfile.mkdtemp(prefix="bmtrace-isolate-")

    def rerun(stage):
        out = os.path.join(workdir, "".join(c if c.isalnum() else "_" for c in stage))
        stage_b = untested[stage][0].stage_b
        samples = sorted(set(str(e.sample_b) for e in untested[stage]))
        plan = make_plan(run_a.path, stage_b, "inputs", samples=samples, source_stage=stage)
        try:
            code, notes, stderr = run_with_plan(program, plan, out, like=run_b)
        except BmtraceError as exc:  # the diff still stands; this stage stays untested, saying why
            return stage, None, str(exc)
        substituted = sum(1 for n in notes if n.get("substituted"))
        if not substituted:
            refused = sorted(set(n.get("reason") for n in notes if not n.get("substituted")))
            return stage, None, "the re-run substituted no input of %s%s" % (
                stage, ": " + "; ".join(refused) if refused else " (did the program run the stage?)")
        try:
            return stage, _compare_stage(run_a, out, stage, stage_b, result.rules), None if code == 0 else \
                "program exited with code %d" % code
        except BmtraceError as exc:
            return stage, None, "diff of the re-run failed: %s" % exc

    try:
        with ThreadPoolExecutor(max_workers=max(1, jobs or os.cpu_count() or 1)) as pool:
            for stage, compared, problem in pool.map(rerun, list(untested)):
                log("tested %s by substitution" % stage if compared is not None
                    else "could not test %s by substitution: %s" % (stage, problem))
                _apply(untested[stage], compared, problem)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _apply(entries, compared, problem):
    found = {}
    for e in compared or ():
        found[(e.sample, e.stage, e.occurrence)] = e
    for entry in entries:
        new = found.get((entry.sample, entry.stage, entry.occurrence))
        if new is None or not new.paired:
            entry.extra["untested_reason"] = problem or "the re-run recorded no call of this stage for sample %r" \
                % entry.sample
            continue
        outputs = [t for t in new.tensors if t.role != "input"]
        worst = max((t for t in outputs if t.max_abs_diff is not None), key=lambda t: t.max_abs_diff, default=None)
        local = worst.to_json() if worst is not None else {}
        local.update(status=new.status, direction="B's %s on A's inputs (substituted in a re-run of B) vs A's "
                                                  "recorded outputs" % entry.stage,
                     tensors=[t.to_json() for t in outputs])
        if problem:
            local["note"] = problem
        entry.local = local
        entry.introduces = not new.passed
        _mark(entry, "substitution")
