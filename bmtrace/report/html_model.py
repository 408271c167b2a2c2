"""Arrange a DiffResult into what the HTML report draws: stage groups, entries, samples.

Pure Python: no numpy, no matplotlib. Every status, rank and word comes from
``bmtrace.compare.status`` through the result, so the page says what the table and the JSON say.
"""
from __future__ import annotations

import math

from ..compare import status as vocabulary
from ..compare.status import Status

# Severity (bmtrace.compare.status) -> CSS class of a badge or chip.
_SEVERITY_CSS = {"ok": "ok", "warn": "warn", "missing": "missing", "bad": "bad", "error": "error"}


def to_float(value):
    """Return value as a float (NaN and infinities kept), or None when it is absent or not a number."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)  # JSON writers spell non-finite numbers "NaN", "Infinity", "-inf"
        except ValueError:
            return None
    try:
        return float(value)  # numpy scalars
    except (TypeError, ValueError):
        return None


def stage_css(status):
    """CSS status class for a status (stage or tensor)."""
    return _SEVERITY_CSS.get(vocabulary.severity(status), "unknown")


def tensor_css(status):
    """CSS status class for a tensor status: bit-identical pairs get their own shade."""
    return "exact" if status == Status.EQUAL else stage_css(status)


def tensor_order(tensor):
    """Sort key putting a stage's worst tensor first; outputs before inputs at equal badness."""
    return (vocabulary.rank(tensor.get("status")), _badness(to_float(tensor.get("max_abs_diff"))),
            tensor.get("role") == "input")


def _badness(value):
    """Sort key part: larger differences first; NaN/inf count as the worst possible."""
    if value is None:
        return 0.0
    if math.isnan(value) or math.isinf(value):
        return -math.inf
    return -abs(value)


def entry_worst(entry):
    """Worst (max_abs_diff, cosine) over an entry's outputs (all tensors if it has none).

    Inputs are the upstream stage's outputs, already judged there; ranking by them would rank
    every stage after a divergence by the same inherited number. NaN wins over any finite value.
    """
    tensors = [t for t in (entry.get("tensors") or ()) if isinstance(t, dict)]
    outputs = [t for t in tensors if t.get("role") != "input"]
    worst_abs, cosines = None, []
    for tensor in outputs or tensors:
        mad = to_float(tensor.get("max_abs_diff"))
        if tensor.get("nonfinite_mismatch"):
            mad = math.nan  # the diff measures finite elements only; NaN/inf on one side is worse
        if mad is not None and (worst_abs is None or _badness(mad) < _badness(worst_abs)):
            worst_abs = mad
        cos = to_float(tensor.get("cosine"))
        if cos is not None:
            cosines.append(cos)
    if not cosines:
        return worst_abs, None
    nans = [c for c in cosines if math.isnan(c)]
    return worst_abs, (nans[0] if nans else min(cosines))


class Entry(object):
    """One (sample, stage, occurrence) call pair of the diff, with its place in the report."""

    def __init__(self, index, comparison):
        self.index = index
        self.comparison = comparison
        self._raw = None
        self.sample = comparison.sample
        self.stage = str(comparison.stage)
        self.occurrence = comparison.occurrence or 0
        self.status = comparison.status
        deciding = comparison.deciding_tensor()
        self.max_abs = self.cosine = None
        self.max_abs_lower = False  # max_abs only bounds the difference from below (stats mode)
        if deciding is not None:
            self.max_abs = math.inf if deciding.nonfinite_mismatch else deciding.max_abs_diff
            self.max_abs_lower = deciding.is_lower_bound()
            self.cosine = deciding.cosine
        self.local = comparison.local
        self.introduces = comparison.introduces
        self.hints = []

    @property
    def raw(self):
        """The entry's JSON document, made when the page shows the entry (a long run has 100,000s)."""
        if self._raw is None:
            self._raw = self.comparison.to_json()
        return self._raw

    @property
    def tensors(self):
        return self.raw["tensors"]

    @property
    def anchor(self):
        """HTML id of this entry's row in its stage table."""
        return "entry-%d" % self.index

    def sort_key(self):
        """Worst entry first: status, then the deciding tensor's difference."""
        return (vocabulary.rank(self.status), _badness(self.max_abs))


class StageGroup(object):
    """All entries of one stage name, worst first; status and figures come from the diff's summary."""

    def __init__(self, position, summary, entries):
        self.position = position
        self.summary = summary
        self.name = summary.stage
        self.status = summary.status
        self.entries = sorted(entries, key=Entry.sort_key)
        self.hints = []

    @property
    def anchor(self):
        """HTML id of this stage's section."""
        return "stage-%d" % self.position

    def counts(self):
        """Number of entries per status, worst first."""
        return dict(sorted(self.summary.counts().items(), key=lambda kv: vocabulary.rank(kv[0])))

    @property
    def worst(self):
        """The worst entry of this stage (entries are kept sorted worst first)."""
        return self.entries[0] if self.entries else None

    @property
    def isolated(self):
        """True when isolation replay judged any non-aligned entry of this stage."""
        return any(e.local is not None or e.introduces is not None for e in self.entries
                   if e.status != Status.ALIGNED)

    def isolation_word(self):
        """How this stage's error arises by isolation: introduces, inherits, or not replayable."""
        judged = [e for e in self.entries if e.status != Status.ALIGNED]
        if any(e.introduces for e in judged):
            return "introduces error"
        if judged and all(e.introduces is False for e in judged):
            return "inherits only"
        return "not replayable"


class SampleSummary(object):
    """One sample across the pipeline: its worst status and first non-aligned stage."""

    def __init__(self, sample):
        self.sample = sample
        self.entries = []

    @property
    def status(self):
        """Worst status over this sample's entries."""
        return vocabulary.worst(e.status for e in self.entries)

    @property
    def first_bad(self):
        """First entry in pipeline order that is not aligned, or None."""
        for e in self.entries:
            if not vocabulary.passes(e.status):
                return e
        return None

    def sort_key(self):
        """Worst sample first: by status, then by its worst entry."""
        return min(e.sort_key() for e in self.entries)


class ReportModel(object):
    """A DiffResult arranged for the page: stages in pipeline order, samples worst first.

    Statuses, verdict and first divergence are the result's own; ``doc`` is its JSON document, for
    the run paths, environment, warnings and isolation summary.
    """

    def __init__(self, result):
        self.result = result
        self.doc = result.to_json(with_stages=False)  # (the entries are read from the result itself)
        self.entries = [Entry(i, e) for i, e in enumerate(result.stages)]
        by_stage = {}
        for entry in self.entries:
            by_stage.setdefault(entry.stage, []).append(entry)
        self.stages = [StageGroup(i, summary, by_stage.get(summary.stage, ()))
                       for i, summary in enumerate(result.by_stage())]
        self.samples = self._group_samples()
        self.hints = [h for h in result.hints if isinstance(h, dict)]
        self._attach_hints()
        first = result.first_divergence
        self.first = first.to_json() if first is not None else None
        self.first_entry = next((e for e in self.entries if first is not None and e.comparison is first.entry),
                                None)

    @property
    def aligned(self):
        """The result's verdict: True when every stage is aligned."""
        return self.result.passed

    @property
    def verdict(self):
        """ALIGNED, SIMILAR, UNVERIFIED, DIVERGED or ERROR."""
        return self.result.verdict

    def _group_samples(self):
        order = {g.name: g.position for g in self.stages}
        samples = {}
        for entry in self.entries:
            key = _sample_key(entry.sample)
            samples.setdefault(key, SampleSummary(entry.sample)).entries.append(entry)
        for summary in samples.values():
            summary.entries.sort(key=lambda e: (order.get(e.stage, len(order)), e.occurrence))
        return sorted(samples.values(), key=SampleSummary.sort_key)

    def _attach_hints(self):
        by_stage = {g.name: g for g in self.stages}
        for hint in self.hints:
            group = by_stage.get(str(hint.get("stage")))
            if group is None:
                continue
            group.hints.append(hint)
            for entry in group.entries:
                if _sample_key(entry.sample) == _sample_key(hint.get("sample")):
                    entry.hints.append(hint)

    def first_tensor(self):
        """The tensor dict named by first_divergence inside its entry, or the entry's worst tensor."""
        entry = self.first_entry
        if entry is None or not entry.tensors:
            return None
        name = self.first.get("tensor")
        for tensor in entry.tensors:
            if name is not None and tensor.get("name") == name:
                return tensor
        return min(entry.tensors, key=tensor_order)


def _sample_key(sample):
    # Samples may be None (recorded outside any sample()); keep None distinct from the string "None".
    return ("none",) if sample is None else ("key", str(sample))
