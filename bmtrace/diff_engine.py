"""``bmtrace.diff(run_a, run_b)``: compare two runs stage by stage and name the first divergence.

Calls pair by (sample, stage, occurrence) (see ``bmtrace.align``), tensors by name, and each
tensor pair goes up the metric ladder (see ``bmtrace.compare``). Arrays are loaded one pair at a
time and dropped before the next, so memory stays bounded by the largest pair whatever the number
of samples. Equal content hashes settle a pair without loading it, and a stage input holding the
same contents as an earlier output of its sample takes that output's verdict (and tolerance)
instead of being compared again.
"""
from __future__ import annotations

import copy
import os
import time
import warnings

from .align import MISSING, align, pair_tensors
from .compare import StageComparison, Status, TensorComparison, ToleranceRules, compare_records
from .compare.environment import environment_diff
from .compare.tolerance import load_config, load_map_file
from .errors import BmtraceError

# Stage statuses that count as a divergence (missing stages make a diff fail but are not one).
_DIVERGENT = (Status.DIVERGED, Status.ERROR)
# Tensor statuses worth asking the explain package about.
_EXPLAINABLE = (Status.SIMILAR, Status.DIVERGED, Status.SHAPE_MISMATCH)


class FirstDivergence:
    """Where the two runs first stop agreeing: sample, stage, occurrence and tensor name."""

    __slots__ = ("sample", "stage", "occurrence", "tensor", "entry")

    def __init__(self, entry):
        self.entry = entry
        self.sample = entry.sample
        self.stage = entry.stage
        self.occurrence = entry.occurrence
        failing = entry.first_failing_tensor()
        self.tensor = failing.name if failing is not None else None

    def __repr__(self):
        return "FirstDivergence(sample=%r, stage=%r, tensor=%r)" % (self.sample, self.stage,
                                                                     self.tensor)

    def __eq__(self, other):
        if isinstance(other, FirstDivergence):
            return self.to_json() == other.to_json()
        return NotImplemented

    def to_json(self):
        """``{"sample", "stage", "tensor"}`` plus the occurrence."""
        return {"sample": self.sample, "stage": self.stage, "tensor": self.tensor,
                "occurrence": self.occurrence}


class StageSummary:
    """All entries of one stage name, aggregated for the terminal table."""

    def __init__(self, stage):
        self.stage = stage
        self.entries = []

    def counts(self):
        """Number of entries per status."""
        out = {}
        for e in self.entries:
            out[e.status] = out.get(e.status, 0) + 1
        return out

    @property
    def compared(self):
        """Entries with a call on both sides."""
        return sum(1 for e in self.entries if e.status not in (Status.ONLY_IN_A, Status.ONLY_IN_B))

    @property
    def status(self):
        """Worst status of the compared entries (error > diverged > aligned); for a stage with
        no compared entry, only_in_a or only_in_b. Unpaired entries are counted in ``counts``."""
        counts = self.counts()
        for status in (Status.ERROR, Status.DIVERGED, Status.ALIGNED, Status.ONLY_IN_A,
                       Status.ONLY_IN_B):
            if counts.get(status):
                return status
        return Status.ALIGNED

    def worst(self):
        """``(worst max abs diff, worst cosine)`` over all entries (None when nothing measured)."""
        diffs, cosines = [], []
        for e in self.entries:
            d, c = e.worst()
            if d is not None:
                diffs.append(d)
            if c is not None:
                cosines.append(c)
        return (max(diffs) if diffs else None, min(cosines) if cosines else None)


class DiffResult:
    """The outcome of ``bmtrace.diff``: ``bool(result)`` is True when every stage is aligned.

    Attributes:
        run_a, run_b: run directory paths.
        stages: StageComparison entries, sample by sample in run A's order (mutable: isolation
            replay fills ``local``/``introduces``, explain adds hints).
        stage_order: stage names in run A's order, then B-only stages.
        hints: explain hints as dicts (sample, stage, tensor, cause, message, confidence, ...).
        environment: versions and env vars that differ (see ``compare.environment``).
        warnings: notes about fallbacks and unpaired records.
        rules: the ToleranceRules in force.
        samples: counts of paired / one-sided samples.
        run_objects: the two opened runs (``bmtrace.open_run``), for loading tensors later.
    """

    def __init__(self, run_a, run_b, stages, stage_order, environment, warnings_, rules,
                 samples, side_a=None, side_b=None, elapsed_s=None):
        self.run_a = run_a
        self.run_b = run_b
        self.side_a = side_a
        self.side_b = side_b
        self.stages = stages
        self.stage_order = stage_order
        self.hints = []
        self.environment = environment
        self.warnings = warnings_
        self.rules = rules
        self.samples = samples
        self.elapsed_s = elapsed_s
        self.run_objects = (None, None)
        self.isolation = None         # summary set by isolation replay (--isolate)

    @property
    def passed(self):
        """True when every stage entry is aligned (nothing diverged, errored or is missing)."""
        return all(e.status == Status.ALIGNED for e in self.stages)

    aligned = passed

    def __bool__(self):
        return self.passed

    @property
    def first_divergence(self):
        """The earliest diverged (or errored) stage in run A's stage order, or None.

        Among stages, run A's order decides; among samples of that stage, run A's sample order.
        When the chosen call encloses nested stage calls that diverged too, the innermost one is
        reported, since it is the more specific place.
        """
        divergent = [e for e in self.stages if e.status in _DIVERGENT]
        if not divergent:
            return None
        rank = {name: i for i, name in enumerate(self.stage_order)}
        entry = min(divergent, key=lambda e: rank.get(e.stage, len(rank)))
        children = {}
        for e in divergent:
            if e.parent_a is not None:
                children.setdefault(e.parent_a, []).append(e)
        seen = set()
        while entry.call_a in children and entry.call_a not in seen:
            seen.add(entry.call_a)
            entry = min(children[entry.call_a], key=lambda e: rank.get(e.stage, len(rank)))
        return FirstDivergence(entry)

    def by_stage(self):
        """StageSummary per stage name, in ``stage_order``."""
        summaries = [StageSummary(name) for name in self.stage_order]
        index = {s.stage: s for s in summaries}
        for e in self.stages:
            if e.stage not in index:
                index[e.stage] = StageSummary(e.stage)
                summaries.append(index[e.stage])
            index[e.stage].entries.append(e)
        return summaries

    def __str__(self):
        from .report.text import one_line

        return one_line(self)

    def __repr__(self):
        return "<DiffResult %s>" % self

    def to_json(self):
        """The JSON document (a dict; key names are a contract, see ``report.json_doc``)."""
        from .report.json_doc import build_document

        return build_document(self)

    def render_table(self, color=False, width=None):
        """The terminal table (one line per stage), hints and environment differences."""
        from .report.text import render

        return render(self, color=color, width=width)


def _open(run):
    from .store.reader import open_run

    if isinstance(run, (str, bytes, os.PathLike)):
        return open_run(os.fsdecode(run) if isinstance(run, bytes) else run)
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
    top = ToleranceRules(atol=atol, rtol=rtol, cosine=cosine, int_atol=int_atol,
                         overrides=overrides)
    return base.merged(top), stage_map


def diff(run_a, run_b, *, atol=None, rtol=None, cosine=None, int_atol=None, tol=None,
         config=None, stage_map=None, map_file=None, explain=True, isolate=False, progress=None,
         explain_budget_s=0.5, trust_recorded=False):
    """Compare run B against reference run A and name the first stage where they diverge.

    Args:
        run_a, run_b: run directories or opened runs (``bmtrace.open_run``).
        atol, rtol: float tolerance (default 1e-3, 0): aligned when |a-b| <= atol + rtol*|a|.
        cosine: SIMILAR threshold (default 0.99).
        int_atol: integer tolerance (default 0: integers must be equal).
        tol: per stage / tensor overrides ``{"resize": 1, "infer.logits": {"atol": .., "rtol": ..}}``
            (or a list of (key, value) pairs).
        config: a JSON (or .toml) file with the same settings and a stage ``map``.
        stage_map: ``{A stage: B stage}`` for stages named differently.
        map_file: file with more stage map entries (JSON/TOML object or ``A=B`` lines).
        explain: ask ``bmtrace.explain`` (when installed) why diverged pairs differ.
        isolate: replay diverged stages to separate local from inherited error
            (``bmtrace.replayer.isolate.isolate_stages``); fills ``local``/``introduces`` on the
            stage entries and ``result.isolation``.
        trust_recorded: let isolation import whatever stage function run A's trace names, not only
            functions defined in the user's own source files (see ``bmtrace.replayer.trust``).
        progress: ``callable(done, total)`` called as call pairs are compared.
        explain_budget_s: time budget per tensor pair for the explain diagnoses.

    Returns:
        DiffResult.

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
    rules, config_map = build_rules(atol, rtol, cosine, int_atol, tol, config)
    full_map = dict(config_map)
    if map_file:
        full_map.update(load_map_file(os.fspath(map_file)))
    full_map.update(stage_map or {})
    run_a, run_b = _open(run_a), _open(run_b)
    alignment = align(run_a, run_b, full_map)
    notes = list(alignment.warnings)
    explainer = _Explainer(explain_budget_s, notes) if explain else None
    entries = []
    cache = ContentCache()
    total = len(alignment.pairs)
    for done, pair in enumerate(alignment.pairs, 1):
        entry = compare_pair(pair, rules, notes, cache)
        entries.append(entry)
        if explainer is not None and entry.status == Status.DIVERGED:
            explainer.explain_entry(entry, pair)
        if progress is not None:
            progress(done, total)
    samples = _sample_counts(alignment)
    result = DiffResult(
        run_a.path, run_b.path, entries, alignment.stage_order,
        environment_diff(_meta(run_a), _meta(run_b)), _dedupe(notes), rules, samples,
        side_a=getattr(run_a, "side", None), side_b=getattr(run_b, "side", None))
    result.run_objects = (run_a, run_b)
    if explainer is not None:
        result.hints = explainer.hints
    if isolate:
        _isolate(result, run_a, run_b, trust_recorded)
    result.elapsed_s = time.perf_counter() - started
    for note in result.warnings:
        warnings.warn(note, DiffWarning, stacklevel=2)
    return result


class DiffWarning(UserWarning):
    """A fallback or an unpaired record noticed while diffing (also listed in the result)."""


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


class ContentCache:
    """Verdicts already reached for a (content of A, content of B) pair within one sample.

    A stage's input is usually an earlier stage's output. Reusing that verdict halves the work
    of a pipeline diff and judges the input with its producer's tolerance: ``--tol resize=1``
    accepts the one-LSB image everywhere it flows, not only at resize.
    """

    def __init__(self):
        self.sample = object()
        self.seen = {}

    def for_sample(self, sample):
        """Start over when the sample changes (keeps the cache small and the pairing local)."""
        if sample != self.sample:
            self.sample = sample
            self.seen = {}
        return self

    def get(self, ta, tb):
        if ta.hash and tb.hash:
            return self.seen.get((ta.hash, tb.hash))
        return None

    def put(self, ta, tb, result, stage):
        if ta.hash and tb.hash and result.status != Status.ERROR:
            self.seen.setdefault((ta.hash, tb.hash), (result, stage))


def compare_pair(pair, rules, notes=None, cache=None):
    """Compare one CallPair into a StageComparison (status set)."""
    call_a, call_b = pair.call_a, pair.call_b
    entry = StageComparison(pair.sample, pair.stage, pair.occurrence, stage_b=pair.stage_b,
                            sample_b=pair.sample_b,
                            call_a=call_a.id if call_a is not None else None,
                            call_b=call_b.id if call_b is not None else None)
    if call_a is not None:
        entry.parent_a = call_a.parent
    if call_b is None:
        entry.status = Status.ONLY_IN_A
        return entry
    if call_a is None:
        entry.status = Status.ONLY_IN_B
        return entry
    cache = (cache or ContentCache()).for_sample(pair.sample)
    entry.error_a, entry.error_b = call_a.error, call_b.error
    # No sample in the text: the same fallback in every sample is one warning, not thousands.
    where = "stage %s: " % pair.stage
    for role, side_a, side_b in (("input", call_a.inputs, call_b.inputs),
                                 ("output", call_a.outputs, call_b.outputs)):
        for ta, tb in pair_tensors(side_a, side_b, notes, where + role + "s: "):
            entry.tensors.append(_compare_tensor(ta, tb, role, pair.stage, rules, cache))
    if getattr(call_a, "mode", "full") != getattr(call_b, "mode", "full"):
        entry.notes.append("recorded in %s mode in A and %s mode in B" % (call_a.mode, call_b.mode))
    entry.finish()
    return entry


def _compare_tensor(ta, tb, role, stage, rules, cache):
    if ta is None or tb is None:
        return TensorComparison((ta or tb).name, Status.ONLY_IN_A if tb is None else Status.ONLY_IN_B,
                                role=role, shape_a=ta.shape if ta is not None else None,
                                shape_b=tb.shape if tb is not None else None,
                                dtype_a=ta.dtype if ta is not None else None,
                                dtype_b=tb.dtype if tb is not None else None)
    known = cache.get(ta, tb)
    # An explicit rule for this very tensor (or, for outputs, for this stage) wins over reuse.
    explicit = rules.names_tensor(stage, ta.name) or (
        role == "output" and stage in rules.overrides)
    if known is not None and not explicit:
        return _reused(known, ta, tb, role)
    result = compare_records(ta, tb, stage=stage, rules=rules)
    result.role = role
    cache.put(ta, tb, result, "%s.%s" % (stage, ta.name))
    return result


def _reused(known, ta, tb, role):
    """A copy of an earlier verdict on the same contents, renamed for this tensor."""
    source, where = known
    result = copy.copy(source)
    result.name = ta.name
    result.name_b = tb.name if tb.name != ta.name else None
    result.role = role
    result.notes = list(source.notes)
    result.same_as = where
    return result


def _isolate(result, run_a, run_b, trust_recorded=False):
    """Let replay fill each diverged stage's ``local`` and ``introduces`` (issue 4)."""
    from .replayer.isolate import isolate_stages

    isolate_stages(result, run_a, run_b, trust_recorded=trust_recorded)


class _LazyArrays(dict):
    """A stage's recorded tensors by name, each loaded from disk on first access."""

    def __init__(self, tensors):
        super().__init__()
        self._tensors = {t.name: t for t in tensors}

    def _get(self, name):
        if not dict.__contains__(self, name):
            t = self._tensors[name]
            value = t.load() if t.has_payload else t.value
            dict.__setitem__(self, name, value)
        return dict.__getitem__(self, name)

    def __getitem__(self, name):
        return self._get(name)

    def get(self, name, default=None):
        return self._get(name) if name in self._tensors else default

    def __contains__(self, name):
        return name in self._tensors

    def __iter__(self):
        return iter(self._tensors)

    def __len__(self):
        return len(self._tensors)

    def keys(self):
        return self._tensors.keys()

    def items(self):
        return [(name, self._get(name)) for name in self._tensors]

    def values(self):
        return [self._get(name) for name in self._tensors]


class _Explainer:
    """Calls ``bmtrace.explain`` on diverged pairs; its failures become warnings, never crashes.

    Each (stage, tensor) is explained at its first divergence only: the same cause repeated for
    every sample would bury the table and cost a time budget per sample.
    """

    def __init__(self, budget_s, notes):
        self.budget_s = budget_s
        self.notes = notes
        self.hints = []
        self.done_tensors = set()
        self.done_stages = set()
        self._module = None

    @property
    def module(self):
        """``bmtrace.explain``, imported at the first divergence (None when unavailable)."""
        if self._module is None:
            try:
                from . import explain as module
            except ImportError:
                module = False
            except Exception as exc:  # a broken explain package must not break the diff
                self.notes.append("explain: could not import bmtrace.explain (%s: %s); no hints"
                                  % (type(exc).__name__, exc))
                module = False
            self._module = module
        return self._module or None

    def explain_entry(self, entry, pair):
        """Add hints for the diverged tensors of one stage entry."""
        if self.module is None:
            return
        call_a, call_b = pair.call_a, pair.call_b
        # Tensors whose verdict was reused were explained where their contents were compared.
        targets = [t for t in entry.tensors if t.status in _EXPLAINABLE and t.same_as is None
                   and (entry.stage, t.role, t.name) not in self.done_tensors]
        if not targets and entry.stage in self.done_stages:
            return
        inputs_a, inputs_b = _LazyArrays(call_a.inputs), _LazyArrays(call_b.inputs)
        for t in targets:
            self.done_tensors.add((entry.stage, t.role, t.name))
            ta = _find(call_a.inputs if t.role == "input" else call_a.outputs, t.name)
            tb = _find(call_b.inputs if t.role == "input" else call_b.outputs,
                       t.name_b if t.name_b is not None else t.name)
            if ta is None or tb is None or not (ta.has_payload and tb.has_payload):
                continue
            self._run("explain_tensor_pair", entry, t.name, lambda: self.module.explain_tensor_pair(
                ta.load(), tb.load(), stage=entry.stage, tensor=t.name,
                inputs_a=inputs_a, inputs_b=inputs_b,
                meta_a=dict(call_a.meta, **ta.meta), meta_b=dict(call_b.meta, **tb.meta),
                budget_s=self.budget_s))
        if entry.stage not in self.done_stages:
            self.done_stages.add(entry.stage)
            outputs_a, outputs_b = _LazyArrays(call_a.outputs), _LazyArrays(call_b.outputs)
            self._run("explain_stage_outputs", entry, None,
                      lambda: self.module.explain_stage_outputs(outputs_a, outputs_b,
                                                                stage=entry.stage))

    def _run(self, what, entry, tensor, call):
        try:
            hints = call() or []
            for hint in hints:
                doc = hint.to_json() if hasattr(hint, "to_json") else dict(hint)
                record = {"sample": entry.sample, "stage": entry.stage,
                          "tensor": tensor if tensor is not None else doc.get("tensor")}
                record.update({k: v for k, v in doc.items() if k not in record})
                self.hints.append(record)
        except Exception as exc:  # an explain bug must never cost the user their diff
            self.notes.append("explain: %s failed on stage %s%s (%s: %s); the diff itself is "
                              "unaffected" % (what, entry.stage,
                                              " tensor %s" % tensor if tensor else "",
                                              type(exc).__name__, exc))


def _find(tensors, name):
    for t in tensors:
        if t.name == name:
            return t
    return None
