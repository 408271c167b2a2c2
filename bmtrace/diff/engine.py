"""``bmtrace.diff(run_a, run_b)``: compare two runs stage by stage and name the first divergence.

Calls pair by (sample, stage, occurrence) (``bmtrace.diff.align``), tensors by name, and each tensor
pair goes up the metric ladder (``bmtrace.compare``). Arrays are loaded (and large pairs measured)
up to two call pairs ahead on two helper threads (``bmtrace.diff.prefetch``) and dropped after their
pair, so memory stays bounded by three call pairs whatever the number of samples.
"""
from __future__ import annotations

import os
import time

from ..compare import Status, ToleranceRules
from ..compare.environment import environment_diff
from ..compare.records import preloaded
from ..compare.tolerance import load_config, load_map_file
from ..errors import BmtraceError
from .align import MISSING, align
from .collector import collect_if_due, long_lived_entries
from .explain_adapter import Explainer
from .pairs import ContentCache, compare_pair
from .accept import apply_accepted, load_accepted
from .prefetch import Prefetcher
from .result import DiffResult
from .select import Selection, check_rules, check_tolerance_names
from .settled import SettledPairs
from .sketch_ahead import SketchesAhead
from .task import TaskStep, task_effect
from .workers import Split, check_jobs, processes_wanted


def _open(run):
    """A run named by its path opens lazily: its calls are parsed as the comparison reaches them and
    forgotten after, so memory is bounded by a window of calls, not by the run. With a fresh index,
    the calls are found through it, and call pairs settled by content hashes are never parsed."""
    from ..store.index import read_fresh
    from ..store.indexed_calls import COLUMNS, STATISTIC_COLUMNS
    from ..store.reader import Run

    if not isinstance(run, (str, bytes, os.PathLike)):
        return run
    run = Run(os.fsdecode(run) if isinstance(run, bytes) else run, lazy=True)
    fresh = read_fresh(run.path, COLUMNS)
    if fresh is not None:
        table, summary = fresh
        if table.column("payload").null_count < table.num_rows:
            # Payloads to compare: diverged pairs are screened on their statistics, read from the index
            # rather than from each call's line. (A stats-mode run's never are: at 100k samples, reading
            # them raised the peak of its diff by 40-60 MB.)
            more = read_fresh(run.path, STATISTIC_COLUMNS)
            if more is not None and more[0].num_rows == table.num_rows:
                for name in STATISTIC_COLUMNS:
                    table = table.append_column(name, more[0].column(name))
            del more
        run.attach_index(table, summary)
        del fresh, table
        from ..store.arrow_arrays import release_unused  # (pyarrow is there: it read the index)

        release_unused()
    return run


def build_rules(atol=None, rtol=None, cosine=None, int_atol=None, tol=None, config=None):
    """ToleranceRules from keyword options on top of an optional config file.

    Returns:
        ``(rules, stage_map_from_config)``.
    """
    base, stage_map = (load_config(os.fspath(config)) if config else (ToleranceRules(), {}))
    overrides = {}
    if tol:
        items = tol.items() if isinstance(tol, dict) else tol
        for key, value in items:
            overrides[key] = value
    top = ToleranceRules(atol=atol, rtol=rtol, cosine=cosine, int_atol=int_atol, overrides=overrides)
    return base.merged(top), stage_map


@long_lived_entries()
def diff(run_a, run_b, *, atol=None, rtol=None, cosine=None, int_atol=None, tol=None,
         config=None, stage_map=None, map_file=None, explain=True, isolate=False, progress=None,
         explain_budget_s=0.5, trust_recorded=False, stages=None, skip_stages=None, samples=None,
         allow_missing=False, fail_fast=False, accepted=None, jobs=None):
    """Compare run B against reference run A and name the first stage where they diverge.

    Args:
        run_a, run_b: run directories or opened runs (``bmtrace.open_run``).
        atol, rtol: float tolerance (default 1e-3, 0): aligned when |a-b| <= atol + rtol*|a|.
        cosine: SIMILAR threshold for float tensors (default 0.99).
        int_atol: integer tolerance (default 0: integers must be equal).
        tol: per stage / tensor overrides ``{"resize": 1, "infer.logits": {"atol": .., "rtol": ..}}``
            (or a list of (key, value) pairs).
        config: a JSON (or .toml) file with the same settings and a stage ``map``.
        stage_map: ``{A stage: B stage}`` for stages named differently.
        map_file: file with more stage map entries (JSON/TOML object or ``A=B`` lines).
        explain: ask ``bmtrace.explain`` why diverged pairs differ.
        isolate: replay diverged stages to separate local from inherited error; fills
            ``local``/``introduces`` on the stage entries and ``result.isolation``. A
            ``bmtrace.replayer.rerun.Program`` (the command running program B) also tests, by
            substitution re-runs, the stages replay cannot.
        trust_recorded: let isolation import whatever stage function run A's trace names, not only
            functions defined in the user's own source files (see ``bmtrace.replayer.trust``).
        progress: ``callable(done, total)`` called as call pairs are compared.
        explain_budget_s: time budget per tensor pair for the explain diagnoses.
        stages: only these stages (run A's names; a list or ``"a,b"``).
        skip_stages: leave these stages out.
        samples: only these samples: a glob (``"img_00*.jpg"``), ``"@FILE"`` (one key per line) or a
            list of keys.
        allow_missing: samples recorded on one side only are reported (``result.samples``), not failed.
        fail_fast: stop at the first diverged call pair (``result.stopped_early`` says where).
        accepted: an accepted-differences file (``bmtrace diff --accept-current``) or its loaded
            document: differences within it count as ``accepted`` instead of failing.
        jobs: processes judging a long diff of stats-mode runs (None: one per core; see
            ``bmtrace.diff.workers``). The result does not depend on it.

    Returns:
        DiffResult: ``bool(result)`` is True when every stage is aligned; ``result.verdict`` and
        ``result.exit_code`` say how bad it is.

    Raises:
        RunNotFoundError, FormatVersionError: a path is not a readable run.
        AlignmentError: nothing pairs; the message lists both sides' stages and samples.
        UsageError: bad tolerances, config or map.

    Example:
        >>> result = bmtrace.diff("runs/original", "runs/port", tol={"resize": 1})
        >>> if not result:
        ...     print(result.first_divergence)
    """
    started = time.perf_counter()
    selection = Selection(stages, skip_stages, samples, allow_missing, fail_fast)
    rules, config_map = build_rules(atol, rtol, cosine, int_atol, tol, config)
    check_rules(rules)
    jobs = check_jobs(jobs)
    accepted = load_accepted(accepted) if accepted is not None else None
    full_map = dict(config_map)
    if map_file:
        full_map.update(load_map_file(os.fspath(map_file)))
    full_map.update(stage_map or {})
    run_a, run_b = _open(run_a), _open(run_b)
    alignment = align(run_a, run_b, full_map)
    notes = ["run %s: %s (left out of the comparison)" % (side, problem)
             for side, run in (("A", run_a), ("B", run_b)) for problem in getattr(run, "problems", ())]
    notes.extend(alignment.warnings)
    known = list(alignment.stage_order) + [s for s in run_b.stages() if s not in alignment.stage_order]
    check_tolerance_names(rules, known, notes)
    selection.check_names(known, notes)
    selection.apply(alignment, notes)
    env_a, env_b = _meta(run_a), _meta(run_b)
    explainer = Explainer(explain_budget_s, notes, (env_a, env_b)) if explain else None
    entries = []
    cache = ContentCache()
    task = TaskStep(rules, notes)
    total = len(alignment.pairs)
    settled = SettledPairs(rules)
    ahead = SketchesAhead(alignment.pairs, rules, settled)
    # forked before any thread of the diff's starts (the prefetch threads below)
    split = Split.start(alignment.pairs, (run_a, run_b),
                        processes_wanted(1 if fail_fast else jobs, alignment.pairs, (run_a, run_b)),
                        _judge_alone(settled, ahead, rules, notes), notes)
    prefetch = None
    try:
        prefetch = Prefetcher(alignment.pairs, settled.layout, rules)
        for done, pair in enumerate(alignment.pairs, 1):
            judged = split.judged(done - 1) if split is not None else None
            if judged is not None:  # judged by a child process
                entry, by_hashes = judged
                if not by_hashes:
                    task.judge(entry, pair)
            else:
                entry = settled.entry(pair, cache)  # (no payload to read, no predictions to judge)
                if entry is None:
                    # the next pairs' payloads load on helper threads while this pair is compared
                    with preloaded(prefetch.take(done - 1)), ahead.ready(pair):
                        entry = compare_pair(pair, rules, notes, cache)
                        task.judge(entry, pair)  # predictions read the pair's arrays already loaded
            entries.append(entry)
            collect_if_due()
            if explainer is not None and entry.status in (Status.DIVERGED, Status.SIMILAR):
                explainer.explain_entry(entry, pair)
            if progress is not None:
                progress(done, total)
            if selection.should_stop(entry):
                selection.stop(entry, done, total, notes)
                break
    finally:
        if prefetch is not None:
            prefetch.close()
        if split is not None:
            split.close()
    result = DiffResult(
        run_a.path, run_b.path, entries, alignment.stage_order,
        environment_diff(env_a, env_b), _dedupe(notes), rules, _sample_counts(alignment),
        side_a=getattr(run_a, "side", None), side_b=getattr(run_b, "side", None))
    result.run_objects = (run_a, run_b)
    result.predictions = task.summaries()
    selection.finish(result)
    if explainer is not None:
        result.hints = _with_sample_counts(explainer.hints, entries)
    if isolate:
        from ..replayer.isolate import isolate_stages

        isolate_stages(result, run_a, run_b, trust_recorded=trust_recorded,
                       rerun=None if isinstance(isolate, bool) else isolate)
    if accepted is not None:
        apply_accepted(result, accepted)
    result.task = task_effect(result)  # after isolation and acceptance: it names the first divergence
    result.elapsed_s = time.perf_counter() - started
    return result


def _judge_alone(settled, ahead, rules, notes):
    """What a child process of ``bmtrace.diff.workers`` runs per pair: the loop's judgement without its
    prefetch (the runs hold no payload) or predictions (the parent judges those, in pair order).
    Returns ``(entry, settled by hashes)``."""
    def judge(pair, cache):
        entry = settled.entry(pair, cache)
        if entry is not None:
            return entry, True
        with ahead.ready(pair):
            return compare_pair(pair, rules, notes, cache), False

    return judge


def _with_sample_counts(hints, entries):
    """Each hint is made once, at its stage's first divergence; say over how many samples that stage
    differs, so one hint stands for all of them."""
    differing = {}
    for entry in entries:
        if entry.paired and not entry.passed:
            differing.setdefault(entry.stage, set()).add(entry.sample)
    for hint in hints:
        hint.setdefault("samples", len(differing.get(hint.get("stage"), ())))
    return hints


def _meta(run):
    try:
        return run.meta
    except (OSError, ValueError, BmtraceError):
        return {}


def _dedupe(notes):
    seen = set()
    out = []
    for note in notes:
        if note not in seen:
            seen.add(note)
            out.append(note)
    return out


def _sample_counts(alignment):
    paired = sum(1 for a, b in alignment.sample_pairs if a is not MISSING and b is not MISSING)
    only_a = [a for a, b in alignment.sample_pairs if b is MISSING]
    only_b = [b for a, b in alignment.sample_pairs if a is MISSING]
    return {"paired": paired, "only_in_a": only_a, "only_in_b": only_b}
