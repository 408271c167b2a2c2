"""The outcome of a diff: one DiffResult holding per-call StageComparisons, grouped into stage rows.

Every judgement a report shows is made here, once: a stage row's status (the worst of its entries),
the figures it shows (those of the tensor that decides that status), the first divergence and the
run's verdict and exit code. The JSON document is written and read back next to the classes
(``to_json`` / ``from_json``), so text, JSON and HTML rendered from a saved document say exactly what
the in-process result says. Results import no renderer.
"""
from __future__ import annotations

import math

from ..compare import status as vocabulary
from ..compare.results import StageComparison, json_number, sanitize
from ..compare.status import Status
from ..compare.tolerance import ToleranceRules

FORMAT = "bmtrace-diff"
FORMAT_VERSION = 2


def _detections(entry):
    """The entry's detections comparison (JSON) when its boxes were judged as detections, else None."""
    pred = entry.extra.get("predictions")
    return pred if isinstance(pred, dict) and pred.get("kind") == "detections" else None


def _entry_badness(entry):
    """Sort key of call pairs: worst status first, then the worst figure of the deciding tensor."""
    tensor = entry.deciding_tensor()
    diff = None
    if _detections(entry) is not None:
        diff = _detections(entry).get("max_coord_diff")
    elif tensor is not None:
        diff = math.inf if tensor.nonfinite_mismatch else tensor.max_abs_diff
    return (vocabulary.rank(entry.status), -(diff if diff is not None else -1.0))


class FirstDivergence:
    """Where the two runs first stop agreeing: sample, stage, occurrence and tensor name."""

    __slots__ = ("sample", "stage", "occurrence", "tensor", "entry", "before_stage")

    def __init__(self, entry):
        self.entry = entry
        self.sample = entry.sample
        self.stage = entry.stage
        self.occurrence = entry.occurrence
        failing = entry.first_failing_tensor()
        self.tensor = failing.name if failing is not None else None
        # An input that differs and that no traced stage of the sample produced (its verdict was not
        # carried over from an earlier output): the difference arose before this stage was called.
        self.before_stage = bool(failing is not None and failing.role == "input" and failing.same_as is None)

    def __repr__(self):
        return "FirstDivergence(sample=%r, stage=%r, tensor=%r)" % (self.sample, self.stage, self.tensor)

    def __eq__(self, other):
        if isinstance(other, FirstDivergence):
            return self.to_json() == other.to_json()
        return NotImplemented

    def to_json(self):
        """``{"sample", "stage", "tensor"}`` plus the occurrence."""
        return {"sample": self.sample, "stage": self.stage, "tensor": self.tensor, "occurrence": self.occurrence,
                "arose_before_stage": self.before_stage}


class StageSummary:
    """All call pairs of one stage name: the row a table shows for that stage."""

    def __init__(self, stage):
        self.stage = stage
        self.entries = []
        self._deciding = None  # (entries counted, the deciding entry): a row asks for it several times

    def counts(self):
        """Number of entries per status."""
        out = {}
        for e in self.entries:
            out[e.status] = out.get(e.status, 0) + 1
        return out

    @property
    def compared(self):
        """Entries with a call on both sides."""
        return sum(1 for e in self.entries if e.paired)

    @property
    def samples_compared(self):
        """Distinct samples with a call on both sides."""
        return len(set(e.sample for e in self.entries if e.paired))

    @property
    def status(self):
        """The worst status of the stage's entries, unpaired ones included."""
        return vocabulary.worst(e.status for e in self.entries)

    def deciding_entry(self):
        """The entry whose status and figures the row shows (the worst one)."""
        known = self._deciding
        if known is None or known[0] != len(self.entries):
            known = self._deciding = (len(self.entries), min(self.entries, key=_entry_badness) if self.entries
                                      else None)
        return known[1]

    def deciding_tensor(self):
        """The tensor that decides the row: the deciding entry's deciding tensor."""
        entry = self.deciding_entry()
        return entry.deciding_tensor() if entry is not None else None

    def figures(self):
        """``(max abs diff, cosine, is_lower_bound, reason)`` of the deciding tensor (for boxes judged as
        detections: the largest coordinate difference of matched boxes, and what did not match)."""
        entry = self.deciding_entry()
        detections = _detections(entry) if entry is not None else None
        if detections is not None:
            unmatched = detections.get("missing", 0) + detections.get("extra", 0) + detections.get("class_flips", 0)
            reason = ("%d missing, %d extra, %d class flips" % (detections.get("missing", 0), detections.get("extra", 0),
                                                                  detections.get("class_flips", 0)) if unmatched else None)
            return detections.get("max_coord_diff"), None, False, reason
        tensor = self.deciding_tensor()
        if tensor is None:
            reason = vocabulary.word(entry.status) if entry is not None and not entry.paired else None
            return None, None, False, reason
        reason = tensor.reason()
        unpaired = [t for e in self.entries for t in e.unpaired_outputs()]
        if unpaired and tensor not in unpaired:
            names = sorted(set("%s %s" % (t.name, vocabulary.word(t.status)) for t in unpaired))
            reason = "; ".join(part for part in (reason, "output %s" % ", ".join(names[:3])) if part)
        return tensor.max_abs_diff, tensor.cosine, tensor.is_lower_bound(), reason

    def ops(self):
        """"cv2.resize(interpolation=INTER_LINEAR) vs torchvision.transforms.Resize(...)" for auto-traced
        stages (the library call each side made), else None."""
        entry = self.deciding_entry()
        if entry is None or not (entry.extra.get("op_a") or entry.extra.get("op_b")):
            return None
        return "%s vs %s" % (_op_text(entry.extra.get("op_a"), entry.extra.get("params_a")),
                             _op_text(entry.extra.get("op_b"), entry.extra.get("params_b")))

    def status_text(self):
        """The status cell: the word, how many entries have it, and the unpaired counts."""
        status = self.status
        counts = self.counts()
        text = vocabulary.word(status)
        total = len(self.entries)
        if status != Status.ALIGNED and total > 1:
            text += " %d/%d" % (counts.get(status, 0), total)
        for other in (Status.ERROR, Status.DIVERGED, Status.ONLY_IN_A, Status.ONLY_IN_B, Status.SIMILAR,
                      Status.UNVERIFIED):
            if other != status and counts.get(other):
                text += ", %d %s" % (counts[other], vocabulary.word(other))
        return text

    def to_json(self, first):
        """The stage's entry in the document's ``summary`` list."""
        max_abs, cosine, lower, reason = self.figures()
        tensor = self.deciding_tensor()
        return {
            "stage": self.stage,
            "status": self.status,
            "samples_compared": self.samples_compared,
            "calls_compared": self.compared,
            "counts": self.counts(),
            "worst_max_abs_diff": json_number(max_abs),
            "worst_cosine": json_number(cosine),
            "worst_is_lower_bound": lower,
            "worst_tensor": tensor.name if tensor is not None else None,
            "reason": reason,
            "first_divergence": first is not None and first.stage == self.stage,
        }


class DiffResult:
    """The outcome of ``bmtrace.diff``: ``bool(result)`` is True when every stage is aligned.

    Attributes:
        run_a, run_b: run directory paths; side_a, side_b: their side labels.
        stages: StageComparison entries, sample by sample in run A's order (isolation and explain
            add to them).
        stage_order: stage names in run A's order, then B-only stages.
        hints: explain hints as dicts (sample, stage, tensor, cause, message, confidence, ...).
        environment: versions and env vars that differ (see ``compare.environment``).
        warnings: notes about fallbacks and unpaired records.
        rules: the ToleranceRules in force.
        samples: counts of paired / one-sided samples.
        isolation: summary set by isolation replay (``--isolate``), or None.
        run_objects: the two opened runs, for loading tensors later (None after ``from_json``).
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
        self.isolation = None
        self.predictions = {}     # stage -> predictions compared over its samples (bmtrace.diff.task)
        self.task = None          # the run's task effect, from its last prediction stage
        self.stopped_early = None      # where --fail-fast stopped (bmtrace.diff.select)
        self.accepted = None           # the accepted-differences file applied (bmtrace.diff.accept)

    # -- verdict ----------------------------------------------------------------------------------
    @property
    def status(self):
        """The worst stage status of the run (``aligned`` when nothing was compared)."""
        return vocabulary.worst(e.status for e in self.stages)

    @property
    def passed(self):
        """True when every stage entry is aligned (nothing diverged, errored, is missing or only similar)."""
        return vocabulary.passes(self.status)

    aligned = passed

    def __bool__(self):
        return self.passed

    @property
    def verdict(self):
        """ALIGNED, SIMILAR, UNVERIFIED, NOT ALIGNED, DIVERGED or ERROR: the word for the worst stage status."""
        return vocabulary.verdict_word(self.status)

    @property
    def exit_code(self):
        """0 aligned, 1 diverged or missing, 3 nothing worse than similar/unverified."""
        return vocabulary.exit_code(self.status)

    @property
    def first_divergence(self):
        """The earliest diverged (or errored) call pair in run A's stage order; when nothing diverged,
        the earliest one that is only similar or unverified; None when every pair is aligned.

        Among stages, run A's order decides; among samples, run A's sample order. When the chosen call
        encloses nested calls that are not aligned either, the innermost one is reported.
        """
        paired = [e for e in self.stages if not e.passed and e.paired]
        failing = [e for e in paired if vocabulary.severity(e.status) in ("bad", "error")] or paired
        if not failing:
            return None
        rank = {name: i for i, name in enumerate(self.stage_order)}
        entry = min(failing, key=lambda e: rank.get(e.stage, len(rank)))
        children = {}
        for e in failing:
            if e.parent_a is not None:
                children.setdefault(e.parent_a, []).append(e)
        seen = set()
        while entry.call_a in children and entry.call_a not in seen:
            seen.add(entry.call_a)
            entry = min(children[entry.call_a], key=lambda e: rank.get(e.stage, len(rank)))
        return FirstDivergence(entry)

    def by_stage(self):
        """StageSummary per stage name, in ``stage_order``; stages without entries are left out."""
        summaries = [StageSummary(name) for name in self.stage_order]
        index = {s.stage: s for s in summaries}
        for e in self.stages:
            if e.stage not in index:
                index[e.stage] = StageSummary(e.stage)
                summaries.append(index[e.stage])
            index[e.stage].entries.append(e)
        return [s for s in summaries if s.entries]

    def one_line(self):
        """The verdict in one line: word, where, and how many stages are aligned."""
        summaries = self.by_stage()
        n_aligned = sum(1 for s in summaries if vocabulary.passes(s.status))
        tail = "%d/%d stages aligned over %d paired sample(s) [%s vs %s]" % (
            n_aligned, len(summaries), self.samples.get("paired", 0), self.run_a, self.run_b)
        first = self.first_divergence
        if first is None:
            if self.passed:
                return "ALIGNED: " + tail
            missing = [s.stage for s in summaries if s.status in (Status.ONLY_IN_A, Status.ONLY_IN_B)]
            return "%s (unpaired stage calls: %s); %s" % (self.verdict, ", ".join(missing), tail)
        where = "stage %s, sample %s" % (first.stage, _show_key(first.sample))
        if first.tensor is not None:
            where += ", tensor %s" % first.tensor
        return "%s at %s; %s" % (self.verdict, where, tail)

    def __str__(self):
        return self.one_line()

    def __repr__(self):
        return "<DiffResult %s>" % self.one_line()

    # -- tables and notebooks (bmtrace.diff.frames) -------------------------------------------------
    def to_pandas(self):
        """One row per tensor pair: sample, stage, occurrence, role, tensor, status, figures, shapes, dtypes."""
        from .frames import to_pandas

        return to_pandas(self)

    def _repr_html_(self):
        from .frames import repr_html

        return repr_html(self)

    # -- JSON -------------------------------------------------------------------------------------
    def to_json(self, with_stages=True):
        """The JSON document (a dict; key names are a contract, see ``bmtrace.report.json_doc``).

        ``with_stages=False`` leaves "stages" empty, for writers that serialise the entries one by one."""
        first = self.first_divergence
        summary = []
        for stage in self.by_stage():
            row = stage.to_json(first)
            row["predictions"] = self.predictions.get(stage.stage)
            summary.append(row)
        doc = {
            "run_a": self.run_a,
            "run_b": self.run_b,
            "aligned": bool(self.passed),
            "first_divergence": first.to_json() if first is not None else None,
            "stages": [e.to_json() for e in self.stages] if with_stages else [],
            "hints": [dict(h) for h in self.hints],
            "environment": self.environment,
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "verdict": self.verdict,
            "status": self.status,
            "exit_code": self.exit_code,
            "side_a": self.side_a,
            "side_b": self.side_b,
            "stage_order": list(self.stage_order),
            "summary": summary,
            "predictions": self.task,
            "samples": dict(self.samples),
            "tolerances": self.rules.to_json(),
            "warnings": list(self.warnings),
            "elapsed_s": self.elapsed_s,
            "isolation": self.isolation,
            "stopped_early": self.stopped_early,
            "accepted": self.accepted,
        }
        return sanitize(doc)

    @classmethod
    def from_json(cls, doc):
        """Rebuild a result from its JSON document (a dict), e.g. one saved by ``diff --json-out``.

        Raises:
            ValueError: ``doc`` is not a bmtrace diff document.
        """
        if not isinstance(doc, dict) or not isinstance(doc.get("stages"), list):
            raise ValueError("not a bmtrace diff document: expected an object with a 'stages' list")
        stages = [StageComparison.from_json(e) for e in doc["stages"] if isinstance(e, dict)]
        order = doc.get("stage_order")
        if not isinstance(order, list):
            order = [s.get("stage") for s in doc.get("summary") or () if isinstance(s, dict)]
        for e in stages:
            if e.stage not in order:
                order.append(e.stage)
        samples = doc.get("samples") if isinstance(doc.get("samples"), dict) else {}
        out = cls(doc.get("run_a"), doc.get("run_b"), stages, order, doc.get("environment") or {},
                  list(doc.get("warnings") or ()), ToleranceRules.from_json(doc.get("tolerances")), samples,
                  side_a=doc.get("side_a"), side_b=doc.get("side_b"), elapsed_s=doc.get("elapsed_s"))
        out.hints = [dict(h) for h in doc.get("hints") or () if isinstance(h, dict)]
        out.isolation = doc.get("isolation")
        out.predictions = {row["stage"]: row["predictions"] for row in doc.get("summary") or ()
                           if isinstance(row, dict) and isinstance(row.get("predictions"), dict)}
        out.task = doc.get("predictions") if isinstance(doc.get("predictions"), dict) else None
        out.stopped_early = doc.get("stopped_early")
        out.accepted = doc.get("accepted")
        return out


def _op_text(op, params):
    if not op:
        return "(no library call)"
    shown = ", ".join("%s=%s" % (k, v) for k, v in sorted((params or {}).items())
                      if isinstance(v, (str, int, float, bool)) and k in _OP_PARAMS)
    return "%s(%s)" % (op, shown)


# The parameters that tell implementations apart, shown next to the op in a stage row.
_OP_PARAMS = ("interpolation", "antialias", "code", "mode", "border_type", "value")


def _show_key(key):
    return "(no sample)" if key is None else str(key)
