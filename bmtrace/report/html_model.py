"""Organise a diff JSON document (issue 3 contract) into what the HTML report draws.

Pure Python: no numpy, no matplotlib. Everything here tolerates missing or malformed keys because a
report on bad data must still come out; unknown statuses rank as "unknown" rather than raising.
"""
from __future__ import annotations

import math

# Lower rank = worse; used to sort worst first and to colour a stage by its worst sample.
_STAGE_RANK = {
    "error": 0,
    "diverged": 1,
    "only_in_a": 2,
    "only_in_b": 2,
    "unknown": 3,
    "aligned": 4,
}

# Tensor statuses from the comparison ladder, plus the shape/dtype/missing results the diff may emit.
_TENSOR_CLASS = {
    "equal": "exact",
    "close": "ok",
    "aligned": "ok",
    "similar": "warn",
    "diverged": "bad",
    "shape_mismatch": "bad",
    "dtype_mismatch": "bad",
    "mismatch": "bad",
    "nan": "bad",
    "missing": "missing",
    "only_in_a": "missing",
    "only_in_b": "missing",
    "error": "error",
}

_STAGE_CLASS = {
    "aligned": "ok",
    "diverged": "bad",
    "only_in_a": "missing",
    "only_in_b": "missing",
    "error": "error",
}


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


def stage_status(entry):
    """Normalised status string of one stage entry ("unknown" when absent or unrecognised)."""
    status = str(entry.get("status") or "unknown").lower()
    return status if status in _STAGE_RANK else "unknown"


def stage_css(status):
    """CSS status class for a stage status."""
    return _STAGE_CLASS.get(status, "unknown")


def tensor_css(status):
    """CSS status class for a tensor status; anything mentioning a mismatch counts as bad."""
    status = str(status or "unknown").lower()
    if status in _TENSOR_CLASS:
        return _TENSOR_CLASS[status]
    if "mismatch" in status or "diverg" in status:
        return "bad"
    return "unknown"


def tensor_order(tensor):
    """Sort key putting a stage's worst tensor first; outputs before inputs at equal badness."""
    rank = {"error": 0, "bad": 1, "warn": 2, "missing": 3, "unknown": 4, "ok": 5, "exact": 6}
    return (rank[tensor_css(tensor.get("status"))], _badness(to_float(tensor.get("max_abs_diff"))),
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


def worst_key(entry):
    """Sort key putting the worst entry first: status, then max abs diff, then cosine."""
    mad, cos = entry_worst(entry)
    cos_key = 2.0 if cos is None else (-1.0 if math.isnan(cos) else cos)
    return (_STAGE_RANK[stage_status(entry)], _badness(mad), cos_key)


class Entry(object):
    """One (sample, stage, occurrence) record pair of the diff, with its place in the report."""

    def __init__(self, index, raw):
        self.index = index
        self.raw = raw
        self.sample = raw.get("sample")
        self.stage = str(raw.get("stage"))
        self.occurrence = raw.get("occurrence") or 0
        self.status = stage_status(raw)
        self.tensors = [t for t in (raw.get("tensors") or ()) if isinstance(t, dict)]
        self.max_abs, self.cosine = entry_worst(raw)
        self.local = raw.get("local")
        self.introduces = raw.get("introduces")
        self.hints = []

    @property
    def anchor(self):
        """HTML id of this entry's row in its stage table."""
        return "entry-%d" % self.index


class StageGroup(object):
    """All entries of one stage name, worst first, with the stage's aggregate status."""

    def __init__(self, position, name):
        self.position = position
        self.name = name
        self.entries = []
        self.hints = []

    @property
    def anchor(self):
        """HTML id of this stage's section."""
        return "stage-%d" % self.position

    @property
    def status(self):
        """Worst status over the stage's entries."""
        if not self.entries:
            return "unknown"
        return min((e.status for e in self.entries), key=lambda s: _STAGE_RANK[s])

    def counts(self):
        """Number of entries per status, in rank order."""
        out = {}
        for e in self.entries:
            out[e.status] = out.get(e.status, 0) + 1
        return dict(sorted(out.items(), key=lambda kv: _STAGE_RANK[kv[0]]))

    @property
    def worst(self):
        """The worst entry of this stage (entries are kept sorted worst first)."""
        return self.entries[0] if self.entries else None

    @property
    def isolated(self):
        """True when isolation replay judged any non-aligned entry of this stage."""
        return any(e.local is not None or e.introduces is not None for e in self.entries
                   if e.status != "aligned")

    def isolation_word(self):
        """How this stage's error arises by isolation: introduces, inherits, or not replayable."""
        judged = [e for e in self.entries if e.status != "aligned"]
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
        return min((e.status for e in self.entries), key=lambda s: _STAGE_RANK[s])

    @property
    def first_bad(self):
        """First entry in pipeline order that is not aligned, or None."""
        for e in self.entries:
            if e.status != "aligned":
                return e
        return None

    def sort_key(self):
        """Worst sample first: by status, then by its worst entry."""
        return min(worst_key(e.raw) for e in self.entries)


class ReportModel(object):
    """The whole diff document, grouped by stage (pipeline order) and by sample (worst first)."""

    def __init__(self, doc):
        self.doc = doc if isinstance(doc, dict) else {}
        raw_entries = [s for s in (self.doc.get("stages") or ()) if isinstance(s, dict)]
        self.entries = [Entry(i, raw) for i, raw in enumerate(raw_entries)]
        self.stages = self._group_stages()
        self.samples = self._group_samples()
        self.hints = [h for h in (self.doc.get("hints") or ()) if isinstance(h, dict)]
        self._attach_hints()
        self.first = self.doc.get("first_divergence") if isinstance(
            self.doc.get("first_divergence"), dict) else None
        self.first_entry = self._find_first_entry()

    @property
    def aligned(self):
        """The document's verdict; absent means we judge from the entries."""
        if "aligned" in self.doc:
            return bool(self.doc["aligned"])
        return all(e.status == "aligned" for e in self.entries)

    def _group_stages(self):
        # Pipeline order: the diff's per-stage summary when present (run A's order, then B-only
        # stages), else the order of first appearance in the entries.
        groups = {}
        for item in self.doc.get("summary") or ():
            name = item.get("stage") if isinstance(item, dict) else None
            if name is not None and str(name) not in groups:
                groups[str(name)] = StageGroup(len(groups), str(name))
        for entry in self.entries:
            if entry.stage not in groups:
                groups[entry.stage] = StageGroup(len(groups), entry.stage)
            groups[entry.stage].entries.append(entry)
        for group in groups.values():
            group.entries.sort(key=lambda e: worst_key(e.raw))
        kept = [g for g in groups.values() if g.entries]
        for position, group in enumerate(kept):
            group.position = position
        return kept

    def _group_samples(self):
        order = {g.name: g.position for g in self.stages}
        samples = {}
        for entry in self.entries:
            key = _sample_key(entry.sample)
            samples.setdefault(key, SampleSummary(entry.sample)).entries.append(entry)
        for summary in samples.values():
            summary.entries.sort(key=lambda e: (order[e.stage], e.occurrence))
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

    def _find_first_entry(self):
        if not self.first:
            return None
        matches = [e for e in self.entries
                   if e.stage == str(self.first.get("stage"))
                   and _sample_key(e.sample) == _sample_key(self.first.get("sample"))]
        if not matches:
            return None
        wanted = self.first.get("occurrence")
        exact = [e for e in matches if e.occurrence == wanted]
        return exact[0] if exact else min(matches, key=lambda e: e.occurrence)

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
