"""Result values of a comparison: one per tensor pair, one per stage call pair.

Results are plain mutable objects: later steps (explain, isolation replay, reports) add to them.
``bool(result)`` is True when the pair passed.
"""
from __future__ import annotations

import math


class Status:
    """Status words used in results and in the JSON document."""

    # tensor pairs: the metric ladder, then structural outcomes
    EQUAL = "equal"            # bit-identical (same dtype, shape and values)
    CLOSE = "close"            # within tolerance
    SIMILAR = "similar"        # cosine >= threshold but not within tolerance: reported, not aligned
    DIVERGED = "diverged"
    SHAPE_MISMATCH = "shape_mismatch"
    # tensor pairs and stage entries
    ONLY_IN_A = "only_in_a"
    ONLY_IN_B = "only_in_b"
    ERROR = "error"
    # stage entries
    ALIGNED = "aligned"

    PASSING = frozenset([EQUAL, CLOSE, ALIGNED])
    LADDER = (EQUAL, CLOSE, SIMILAR, DIVERGED)


def json_number(value):
    """A JSON-safe float: None for missing, NaN or infinite values."""
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


class TensorComparison:
    """Outcome of comparing one tensor of run A with its partner in run B.

    Attributes mirror the JSON keys; ``basis`` says what the verdict rests on: ``"payload"``
    (both arrays loaded), ``"hash"`` (equal content hashes), ``"stats"`` (stats-mode records:
    bounds from min/max/mean) or ``"value"`` (scalars, strings, bytes, objects).
    """

    def __init__(self, name, status, role=None, name_b=None, shape_a=None, shape_b=None,
                 dtype_a=None, dtype_b=None, basis=None):
        self.name = name
        self.name_b = name_b
        self.role = role
        self.status = status
        self.basis = basis
        self.shape_a = shape_a
        self.shape_b = shape_b
        self.dtype_a = dtype_a
        self.dtype_b = dtype_b
        self.max_abs_diff = None
        self.max_abs_index = None
        self.mean_abs_diff = None
        self.max_rel_diff = None
        self.cosine = None
        self.psnr = None
        self.equal_ratio = None
        self.min_atol = None
        self.nonfinite_mismatch = None
        self.tolerance = None
        self.same_as = None        # "stage.tensor" whose verdict on the same contents was reused
        self.notes = []

    @property
    def passed(self):
        """True for EQUAL and CLOSE."""
        return self.status in Status.PASSING

    def __bool__(self):
        return self.passed

    def __repr__(self):
        return "<TensorComparison %s>" % self.summary()

    def summary(self):
        """One line: name, status and the headline metrics."""
        parts = ["%s: %s" % (self.name, self.status.upper())]
        if self.max_abs_diff is not None:
            parts.append("max abs diff %.4g" % self.max_abs_diff)
        if self.cosine is not None:
            parts.append("cosine %.6f" % self.cosine)
        if self.status == Status.SHAPE_MISMATCH:
            parts.append("shapes %s vs %s" % (self.shape_a, self.shape_b))
        return ", ".join(parts)

    def to_json(self):
        """The contract keys first, then extras."""
        doc = {
            "name": self.name,
            "status": self.status,
            "max_abs_diff": json_number(self.max_abs_diff),
            "mean_abs_diff": json_number(self.mean_abs_diff),
            "cosine": json_number(self.cosine),
            "equal_ratio": json_number(self.equal_ratio),
            "shape_a": list(self.shape_a) if self.shape_a is not None else None,
            "shape_b": list(self.shape_b) if self.shape_b is not None else None,
            "dtype_a": self.dtype_a,
            "dtype_b": self.dtype_b,
            "role": self.role,
            "name_b": self.name_b if self.name_b is not None else self.name,
            "basis": self.basis,
            "max_abs_index": list(self.max_abs_index) if self.max_abs_index is not None else None,
            "max_rel_diff": json_number(self.max_rel_diff),
            "psnr": json_number(self.psnr),
            "min_atol": json_number(self.min_atol),
            "nonfinite_mismatch": self.nonfinite_mismatch,
            "tolerance": self.tolerance.to_json() if self.tolerance is not None else None,
            "same_as": self.same_as,
            "notes": list(self.notes),
        }
        return doc


class StageComparison:
    """One stage call of run A paired with its partner in run B (or left unpaired).

    ``local`` and ``introduces`` stay None until isolation replay (``bmtrace.replay``) fills them;
    ``extra`` holds any further keys a later step wants in this stage's JSON entry.
    """

    def __init__(self, sample, stage, occurrence, status=None, stage_b=None, sample_b=None,
                 call_a=None, call_b=None):
        self.sample = sample
        self.sample_b = sample_b if sample_b is not None else sample
        self.stage = stage
        self.stage_b = stage_b if stage_b is not None else stage
        self.occurrence = occurrence
        self.status = status
        self.call_a = call_a          # call ids, so replay and reports can find the records
        self.call_b = call_b
        self.parent_a = None          # id of the enclosing call in run A, for nested stages
        self.tensors = []
        self.error_a = None
        self.error_b = None
        self.notes = []
        self.local = None
        self.introduces = None
        self.extra = {}

    @property
    def passed(self):
        """True when the stage is aligned."""
        return self.status == Status.ALIGNED

    def __bool__(self):
        return self.passed

    def __repr__(self):
        return "<StageComparison %s sample=%r #%d: %s>" % (
            self.stage, self.sample, self.occurrence, self.status)

    def finish(self):
        """Set ``status`` from the tensors and errors (unless already only_in_a/only_in_b)."""
        if self.status in (Status.ONLY_IN_A, Status.ONLY_IN_B):
            return self.status
        if self._errors_differ() or any(t.status == Status.ERROR for t in self.tensors):
            # a call that raised, or a payload that could not be read: not a value divergence
            self.status = Status.ERROR
        elif all(t.passed or _ignorable(t) for t in self.tensors):
            self.status = Status.ALIGNED
        else:
            self.status = Status.DIVERGED
        return self.status

    def _errors_differ(self):
        """True unless neither call raised or both raised the same exception type."""
        if self.error_a is None and self.error_b is None:
            return False
        if self.error_a is None or self.error_b is None:
            return True
        type_a = self.error_a.get("type") if isinstance(self.error_a, dict) else self.error_a
        type_b = self.error_b.get("type") if isinstance(self.error_b, dict) else self.error_b
        if type_a != type_b:
            return True
        note = "both runs raised %s" % type_a
        if note not in self.notes:
            self.notes.append(note)
        return False

    def first_failing_tensor(self):
        """The first tensor (inputs, then outputs, in recording order) that did not pass."""
        for t in self.tensors:
            if not t.passed and not _ignorable(t):
                return t
        return None

    def worst(self):
        """``(max of max_abs_diff, min of cosine)`` over the outputs (None if nothing measured).

        Outputs are what the stage itself produced; its inputs are usually an earlier stage's
        outputs and already counted there. A stage without compared outputs uses its inputs.
        """
        measured = [t for t in self.tensors if t.role == "output" and
                    (t.max_abs_diff is not None or t.cosine is not None)]
        if not measured:
            measured = self.tensors
        diffs = [t.max_abs_diff for t in measured if t.max_abs_diff is not None]
        cosines = [t.cosine for t in measured if t.cosine is not None]
        return (max(diffs) if diffs else None, min(cosines) if cosines else None)

    def failing_tensors(self):
        """Tensors that did not pass (inputs recorded on one side only excepted)."""
        return [t for t in self.tensors if not t.passed and not _ignorable(t)]

    def to_json(self):
        """The contract keys first, then extras (``local``/``introduces`` from isolation)."""
        doc = {
            "sample": self.sample,
            "stage": self.stage,
            "occurrence": self.occurrence,
            "status": self.status,
            "tensors": [t.to_json() for t in self.tensors],
            "stage_b": self.stage_b,
            "sample_b": self.sample_b,
            "call_a": self.call_a,
            "call_b": self.call_b,
            "errors": {"a": self.error_a, "b": self.error_b},
            "notes": list(self.notes),
            "local": self.local,
            "introduces": self.introduces,
        }
        for key, value in self.extra.items():
            doc.setdefault(key, value)
        return doc


def _ignorable(tensor):
    """An input recorded on one side only does not fail a stage (extra arguments are common)."""
    return tensor.role == "input" and tensor.status in (Status.ONLY_IN_A, Status.ONLY_IN_B)
