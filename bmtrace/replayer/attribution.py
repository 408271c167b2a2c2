"""`bmtrace attribute`: which stage's divergence changes the final predictions?

For each stage where B diverges from A (pipeline order), program B is re-run twice with substitution:
with A's outputs at that stage (how much of the final change does fixing this stage remove:
``restored``, and where do the runs still first diverge after it), and with A's inputs at that stage
(does B's stage, given A's inputs, still differ from A's outputs: ``local``). A stage whose inputs are
already the same in both runs needs no input re-run: the recorded diff is its local test.

The final predictions are those of the diff's task stage when one holds predictions (top-1 for a
classifier, matched boxes for a detector), else the last stage's comparison.
"""
from __future__ import annotations

import os
import shutil
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from ..compare import Status
from ..errors import BmtraceError
from .rerun import run_with_plan
from .substitute import make_plan


def attribute(run_a, run_b, program, samples=None, jobs=None, progress=None, workdir=None, **tolerances):
    """Attribute the final change of B against A to stages; returns the ``attribute --json`` document.

    Args:
        run_a, run_b: run directories (A the reference, B the recorded program).
        program: rerun.Program that runs program B.
        samples: only substitute and measure these sample keys (None: all).
        jobs: re-runs in parallel (default: number of cores).
        progress: ``callable(message)`` for progress lines.
        workdir: keep the re-runs in this directory (default: a temporary one, removed).
        tolerances: diff tolerances (atol, tol, ...).
    """
    from ..diff import diff
    from ..store.reader import open_run

    started = time.perf_counter()
    run_a, run_b = open_run(run_a), open_run(run_b)
    wanted = set(str(s) for s in samples) if samples else None
    base = diff(run_a, run_b, explain=False, **tolerances)
    final = final_stage(base)
    stages = candidate_stages(base, wanted)
    keep = workdir is not None
    workdir = workdir or tempfile.mkdtemp(prefix="bmtrace-attribute-")
    os.makedirs(workdir, exist_ok=True)
    tasks = []
    for stage in stages:
        if stage != final:  # the final stage's own outputs are recorded before substitution: not measurable
            tasks.append((stage, "outputs"))
        if not _inputs_agree(base, stage, wanted):
            tasks.append((stage, "inputs"))
    done = [0]
    lock = threading.Lock()

    def rerun(task):
        stage, role = task
        out = os.path.join(workdir, "%s.%s" % (_safe(stage), role))
        plan = make_plan(run_a.path, stage, role, samples=sorted(wanted) if wanted else None)
        code, notes, stderr = run_with_plan(program, plan, out, like=run_b)
        outcome = {"exit_code": code, "substituted": sum(1 for n in notes if n.get("substituted")),
                   "refused": sorted(set(n.get("reason") for n in notes
                                         if not n.get("substituted") and not n.get("kept")))}
        try:
            outcome["diff"] = diff(run_a, out, explain=False, **tolerances)
        except BmtraceError as exc:
            outcome["error"] = str(exc)
        if code != 0:
            outcome["error"] = "program exited with code %d: %s" % (code, stderr.strip().splitlines()[-1:] or "")
        with lock:
            done[0] += 1
            if progress:
                progress("re-run %d/%d done: %s with A's %s" % (done[0], len(tasks), stage, role))
        return task, outcome

    try:
        with ThreadPoolExecutor(max_workers=max(1, jobs or os.cpu_count() or 1)) as pool:
            outcomes = dict(pool.map(rerun, tasks))
    finally:
        if not keep:
            shutil.rmtree(workdir, ignore_errors=True)
    entries = [_stage_entry(stage, base, outcomes, final, wanted) for stage in stages]
    baseline = agreement(base, final, wanted)
    doc = {
        "stages": entries,
        "culprit": None if unchanged(baseline) else culprit(entries),
        "final_stage": final,
        "metric": _metric(base),
        "baseline": baseline,
        "reruns": len(tasks),
        "samples": sorted(wanted) if wanted else None,
        "elapsed_s": round(time.perf_counter() - started, 3),
    }
    doc["message"] = message(doc)
    return doc


# -- choosing and measuring ----------------------------------------------------------------------------
def final_stage(result):
    """The stage whose comparison stands for the final predictions."""
    if result.task and result.task.get("stage"):
        return result.task["stage"]
    present = {e.stage for e in result.stages}
    ordered = [s for s in result.stage_order if s in present]
    return ordered[-1] if ordered else None


def candidate_stages(result, wanted):
    """Stages, in pipeline order, where B's values differ from A's (a representation change counts)."""
    out = []
    for stage in result.stage_order:
        entries = _entries(result, stage, wanted)
        if any(not e.passed or _represented(e) for e in entries if e.paired):
            out.append(stage)
    return out


def agreement(result, stage, wanted):
    """``{"agree", "samples"}``: samples whose final predictions (or final comparison) agree with A."""
    entries = [e for e in _entries(result, stage, wanted) if e.paired]
    samples = {}
    for e in entries:
        samples[e.sample] = samples.get(e.sample, True) and _agrees(e)
    return {"agree": sum(1 for v in samples.values() if v), "samples": len(samples)}


def _agrees(entry):
    predictions = entry.extra.get("predictions")
    if isinstance(predictions, dict):
        if "top1_agree" in predictions:
            return predictions["top1_agree"] >= (predictions.get("samples") or 1)
        if "missing" in predictions:
            return not (predictions["missing"] or predictions["extra"] or predictions.get("class_flips"))
    return entry.passed


def _inputs_agree(result, stage, wanted):
    entries = [e for e in _entries(result, stage, wanted) if e.paired]
    inputs = [t for e in entries for t in e.tensors if t.role == "input"]
    return bool(entries) and bool(inputs) and all(t.passed and t.status != Status.REPRESENTED for t in inputs)


def local_status(result, stage, wanted):
    """``(status word, worst output max abs diff)`` of a stage's outputs: diverged, similar, ..., aligned, or
    equal_under_representation when the values only agree up to a representation change."""
    entries = [e for e in _entries(result, stage, wanted) if e.paired]
    if not entries:
        return None, None
    outputs = [t for e in entries for t in e.tensors if t.role != "input"]
    failing = [e.status for e in entries if not e.passed]
    diffs = [t.max_abs_diff for t in outputs if t.max_abs_diff is not None]
    worst = max(diffs) if diffs else None
    if failing:
        from ..compare import status as vocabulary

        return vocabulary.worst(failing), worst
    if any(t.status == Status.REPRESENTED for t in outputs):
        return Status.REPRESENTED, worst
    return Status.ALIGNED, worst


def first_divergence_after(result, stage, wanted):
    order = list(result.stage_order)
    later = order[order.index(stage) + 1:] if stage in order else []
    for name in later:
        if any(not e.passed for e in _entries(result, name, wanted) if e.paired):
            return name
    return None


def _stage_entry(stage, base, outcomes, final, wanted):
    entry = {"stage": stage, "local": None, "restored": None, "first_divergence_after": None}
    out = outcomes.get((stage, "outputs"), {})
    if out.get("diff") is not None and out.get("substituted"):
        measured = agreement(out["diff"], final, wanted)
        entry["restored"] = measured["agree"] / float(measured["samples"]) if measured["samples"] else None
        entry["restored_samples"] = measured
        entry["first_divergence_after"] = first_divergence_after(out["diff"], stage, wanted)
    elif stage == final:
        entry["restored_note"] = ("the final stage itself: with A's outputs the predictions are A's by "
                                  "construction; not re-run")
    else:
        entry["restored_note"] = _why_not(out, "outputs")
    if (stage, "inputs") in outcomes:
        inp = outcomes[(stage, "inputs")]
        if inp.get("diff") is not None and inp.get("substituted"):
            entry["local"], entry["local_max_abs_diff"] = local_status(inp["diff"], stage, wanted)
            entry["local_by"] = "substitution"
        else:
            entry["local_note"] = _why_not(inp, "inputs")
    else:
        entry["local"], entry["local_max_abs_diff"] = local_status(base, stage, wanted)
        entry["local_by"] = "recorded (inputs already agree)"
    return entry


def _why_not(outcome, role):
    if not outcome:
        return "not re-run"
    if outcome.get("error"):
        return outcome["error"]
    if not outcome.get("substituted"):
        return "no %s substituted%s" % (role, ": " + "; ".join(outcome["refused"]) if outcome.get("refused") else "")
    return None


def unchanged(baseline):
    """True when B as recorded already agrees with A on every sample: there is no change to attribute."""
    return bool(baseline and baseline["samples"]) and baseline["agree"] == baseline["samples"]


def culprit(entries):
    """The earliest stage with a local divergence whose substitution restores the most."""
    measured = [e for e in _local(entries) if e["restored"] is not None]
    if not measured:
        return None  # no substitution measured what any of them does to the predictions
    best = max(e["restored"] for e in measured)
    return next(e["stage"] for e in measured if e["restored"] == best)


def _local(entries):
    """The entries of stages that differ on A's inputs."""
    return [e for e in entries if e["local"] not in (None, Status.ALIGNED)]


def message(doc):
    """"substituting resize's output restores top-1 on 5/5; normalize 5/5 -> the change comes from resize"."""
    parts = []
    for e in doc["stages"]:
        counts = e.get("restored_samples")
        if counts is None and e["stage"] == doc["final_stage"]:
            continue  # substituting the final stage's outputs is not a measurement
        shown = "%d/%d" % (counts["agree"], counts["samples"]) if counts else "not measured"
        if parts:
            parts.append("%s %s" % (e["stage"], shown))
        elif counts:
            parts.append("substituting %s's output restores %s on %s" % (e["stage"], doc["metric"], shown))
        else:
            parts.append("substituting %s's output: not measured" % e["stage"])
    if not doc["stages"]:
        return "no stage diverges: nothing to attribute"
    text = "; ".join(parts) or "only the final stage diverges"
    baseline, local = doc.get("baseline"), _local(doc["stages"])
    if unchanged(baseline):
        text += " -> B as recorded already agrees with A on %s (%d/%d): no change to attribute" % (
            doc["metric"], baseline["agree"], baseline["samples"])
    elif doc["culprit"]:
        text += " -> the change comes from %s" % doc["culprit"]
    elif local:
        text += (" -> not attributed: no substitution measured what the stages do to %s; the first stage that "
                 "differs on A's inputs is %s" % (doc["metric"], local[0]["stage"]))
    else:
        text += " -> no stage diverges on A's inputs: the change is not attributable to one stage's code"
    return text


def _metric(result):
    kind = (result.task or {}).get("kind")
    if kind == "classification":
        return "top-1"
    if kind == "detections":
        return "the detections"
    return "the final stage's outputs"


def _entries(result, stage, wanted):
    return [e for e in result.stages if e.stage == stage and (wanted is None or str(e.sample) in wanted)]


def _represented(entry):
    return any(t.status == Status.REPRESENTED for t in entry.tensors)


def _safe(name):
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in name)
