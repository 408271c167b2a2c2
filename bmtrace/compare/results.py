"""Result values of a comparison: one per tensor pair, one per stage call pair.

Results are plain mutable objects: later steps (explain, isolation replay) add to them. ``bool(result)``
is True when the pair passed. Each result writes itself to JSON and reads itself back (``to_json`` /
``from_json`` side by side), so a saved diff document renders exactly like the diff that wrote it.
"""
from __future__ import annotations

import math

from . import status as vocabulary
from .status import Status

__all__ = ["Status", "TensorComparison", "StageComparison", "json_number", "sanitize"]


def json_number(value):
    """A JSON-safe float: None for missing, NaN or infinite values."""
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def sanitize(value):
    """Copy of ``value`` with only JSON types: non-finite floats become None, tuples lists."""
    if isinstance(value, dict):
        return {k if isinstance(k, str) else str(k): sanitize(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [sanitize(v) for v in value]
    if value is None or isinstance(value, (bool, str, int)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if hasattr(value, "tolist"):  # numpy scalars and arrays
        return sanitize(value.tolist())
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return repr(value)


def _number(value):
    """A figure read from a document: a float (non-finite spelled "NaN"/"Infinity" kept) or None."""
    if value is None or isinstance(value, bool):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


_new = object.__new__


def _tuple(value):
    return tuple(value) if isinstance(value, (list, tuple)) else None


class TensorComparison:
    """Outcome of comparing one tensor of run A with its partner in run B.

    Attributes mirror the JSON keys; ``basis`` says what the verdict rests on: ``"payload"``
    (both arrays loaded), ``"hash"`` (equal content hashes), ``"stats"`` (stats-mode records:
    bounds from min/max/mean), ``"sketch"`` (stats-mode records with sketches: bounds from sampled
    values, estimates of mean abs diff and cosine) or ``"value"`` (scalars, strings, bytes, objects).
    ``nonfinite_a``/``nonfinite_b`` count NaN and Inf per side when their positions differ; the
    finite-only figures then do not describe the pair and are left empty.
    """

    _FIGURES = ("max_abs_diff", "mean_abs_diff", "max_rel_diff", "cosine", "psnr", "equal_ratio", "min_atol")

    # A diff holds one of these per tensor pair of every sample: slots keep each to a third of the
    # memory and leave the garbage collector fewer objects to walk.
    __slots__ = ("name", "name_b", "role", "status", "basis", "shape_a", "shape_b", "dtype_a", "dtype_b",
                 "max_abs_diff", "max_abs_index", "mean_abs_diff", "max_rel_diff", "cosine", "psnr",
                 "equal_ratio", "min_atol", "nonfinite_mismatch", "nonfinite_a", "nonfinite_b", "tolerance",
                 "same_as", "representation", "notes", "whole_sketch")

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
        self.nonfinite_a = None        # {"nan": n, "inf": n} when NaN/Inf positions differ
        self.nonfinite_b = None
        self.tolerance = None
        self.same_as = None        # "stage.tensor" whose verdict on the same contents was reused
        self.representation = None  # mapping JSON when A was put in B's representation before comparing
        self.notes = []
        self.whole_sketch = False  # basis "sketch", but the sketches held every element: exact figures

    def __copy__(self):
        """A shallow copy (``copy.copy``): figures and tolerance shared, ``notes`` a list of its own.

        Every slot spelled out: five times faster than a loop over ``__slots__``, and a diff copies a
        verdict for each tensor settled by hashes."""
        out = _new(TensorComparison)
        out.name, out.name_b, out.role, out.status, out.basis = self.name, self.name_b, self.role, self.status, \
            self.basis
        out.shape_a, out.shape_b, out.dtype_a, out.dtype_b = self.shape_a, self.shape_b, self.dtype_a, self.dtype_b
        out.max_abs_diff, out.max_abs_index, out.mean_abs_diff, out.max_rel_diff = \
            self.max_abs_diff, self.max_abs_index, self.mean_abs_diff, self.max_rel_diff
        out.cosine, out.psnr, out.equal_ratio, out.min_atol = self.cosine, self.psnr, self.equal_ratio, self.min_atol
        out.nonfinite_mismatch, out.nonfinite_a, out.nonfinite_b = \
            self.nonfinite_mismatch, self.nonfinite_a, self.nonfinite_b
        out.tolerance, out.same_as, out.representation = self.tolerance, self.same_as, self.representation
        out.notes = list(self.notes)
        out.whole_sketch = self.whole_sketch
        return out

    @property
    def passed(self):
        """True for EQUAL and CLOSE."""
        return self.status in Status.PASSING

    def __bool__(self):
        return self.passed

    def __repr__(self):
        return "<TensorComparison %s>" % self.summary()

    def is_lower_bound(self):
        """True when ``max_abs_diff`` only bounds the difference from below (stats-mode records whose
        sketches did not hold the whole tensors)."""
        return self.basis in ("stats", "sketch") and not self.whole_sketch and self.status not in (Status.EQUAL,)

    def reason(self):
        """Why this pair has its status, when the figures alone do not say it (None otherwise)."""
        if self.status in (Status.ONLY_IN_A, Status.ONLY_IN_B):
            return vocabulary.word(self.status)
        if self.status == Status.SHAPE_MISMATCH:
            return "shape %s vs %s" % (_shape_text(self.shape_a), _shape_text(self.shape_b))
        if self.status == Status.ERROR:
            return self.notes[0] if self.notes else "could not be compared"
        if self.nonfinite_mismatch:
            parts = []
            for side, counts in (("A", self.nonfinite_a), ("B", self.nonfinite_b)):
                for kind, label in (("nan", "NaN"), ("inf", "Inf")):
                    if counts and counts.get(kind):
                        parts.append("%s %d in %s" % (label, counts[kind], side))
            return ", ".join(parts) or "%d NaN/Inf on one side only" % self.nonfinite_mismatch
        if self.status == Status.REPRESENTED:
            return "equal under representation (%s)" % self.representation.get("describe")
        if self.status == Status.UNVERIFIED:
            if self.basis == "sketch":
                return "hash differs, sketch agrees"
            return "hash differs, magnitude unknown" if self.max_abs_diff is None else "hash differs, stats agree"
        if self.representation and not self.passed:
            return "compared as B's representation (%s)" % self.representation.get("describe")
        if self.basis == "value" and not self.passed:
            return "values differ" if self.dtype_a == self.dtype_b else "kinds %s vs %s" % (self.dtype_a, self.dtype_b)
        if self.dtype_a != self.dtype_b and self.dtype_a and self.dtype_b and not self.passed:
            return "dtype %s vs %s" % (self.dtype_a, self.dtype_b)
        return None

    def summary(self):
        """One line: name, status and the headline figures (or the reason when figures say nothing)."""
        parts = ["%s: %s" % (self.name, self.status.upper())]
        why = self.reason()
        if self.max_abs_diff is not None and not self.nonfinite_mismatch:
            parts.append("max abs diff %s%.4g" % (">=" if self.is_lower_bound() else "", self.max_abs_diff))
        if self.cosine is not None:
            parts.append("cosine %.6f" % self.cosine)
        if why:
            parts.append(why)
        return ", ".join(parts)

    def to_json(self):
        """The contract keys first, then extras."""
        return {
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
            "nonfinite_a": self.nonfinite_a,
            "nonfinite_b": self.nonfinite_b,
            "lower_bound": self.is_lower_bound(),
            "reason": self.reason(),
            "tolerance": self.tolerance.to_json() if self.tolerance is not None else None,
            "same_as": self.same_as,
            "representation": self.representation,
            "notes": list(self.notes),
        }

    @classmethod
    def from_json(cls, doc):
        """Rebuild a comparison from its ``to_json`` document."""
        from .tolerance import Tolerance

        name = doc.get("name")
        name_b = doc.get("name_b")
        out = cls(name, str(doc.get("status")), role=doc.get("role"), name_b=name_b if name_b != name else None,
                  shape_a=_tuple(doc.get("shape_a")), shape_b=_tuple(doc.get("shape_b")),
                  dtype_a=doc.get("dtype_a"), dtype_b=doc.get("dtype_b"), basis=doc.get("basis"))
        for key in cls._FIGURES:
            setattr(out, key, _number(doc.get(key)))
        index = doc.get("max_abs_index")
        out.max_abs_index = _tuple(index) if isinstance(index, list) else None
        out.nonfinite_mismatch = doc.get("nonfinite_mismatch")
        out.nonfinite_a, out.nonfinite_b = doc.get("nonfinite_a"), doc.get("nonfinite_b")
        tol = doc.get("tolerance")
        out.tolerance = Tolerance(**tol) if isinstance(tol, dict) else None
        out.same_as = doc.get("same_as")
        rep = doc.get("representation")
        out.representation = rep if isinstance(rep, dict) and isinstance(rep.get("describe"), str) else None
        out.notes = list(doc.get("notes") or ())
        out.whole_sketch = out.basis == "sketch" and doc.get("lower_bound") is False
        return out


def _shape_text(shape):
    return str(tuple(shape)) if shape is not None else "?"


def _badness(tensor):
    """Sort key: worst status first, outputs before inputs, then the larger difference."""
    diff = tensor.max_abs_diff
    if tensor.nonfinite_mismatch:
        diff = math.inf
    return (vocabulary.rank(tensor.status), tensor.role == "input", -(diff if diff is not None else -1.0))


class StageComparison:
    """One stage call of run A paired with its partner in run B (or left unpaired).

    ``local`` and ``introduces`` stay None until isolation replay fills them; ``extra`` holds any
    further keys a later step wants in this stage's JSON entry.
    """

    __slots__ = ("sample", "sample_b", "stage", "stage_b", "occurrence", "status", "call_a", "call_b", "parent_a",
                 "tensors", "error_a", "error_b", "notes", "local", "introduces", "extra", "carried_mapping")

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
        self.carried_mapping = None   # the representation mapping the call received (bmtrace.diff.pairs)

    @property
    def passed(self):
        """True when the stage is aligned (or its differences are accepted ones)."""
        return vocabulary.passes(self.status)

    def __bool__(self):
        return self.passed

    def __repr__(self):
        return "<StageComparison %s sample=%r #%d: %s>" % (
            self.stage, self.sample, self.occurrence, self.status)

    @property
    def paired(self):
        """True when both runs have this call."""
        return self.status not in (Status.ONLY_IN_A, Status.ONLY_IN_B)

    def finish(self):
        """Set ``status`` from the tensors and errors (unless already only_in_a/only_in_b)."""
        if not self.paired and self.status is not None:
            return self.status
        if self._errors_differ():
            self.status = Status.ERROR  # a call that raised in one program only
        else:
            counted = [t.status for t in self.tensors if not _ignorable(t)]
            outputs = [t for t in self.tensors if t.role == "output"]
            if outputs and all(_ignorable(t) for t in outputs):
                counted.append(Status.DIVERGED)  # not one output in common: nothing of the call agrees
            self.status = vocabulary.stage_status(vocabulary.worst(counted, Status.ALIGNED))
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

    def deciding_tensor(self):
        """The tensor that decides this entry's status: worst status, outputs first, largest diff."""
        counted = [t for t in self.tensors if not _ignorable(t)] or self.tensors
        return min(counted, key=_badness) if counted else None

    def unpaired_outputs(self):
        """Outputs recorded on one side only."""
        return [t for t in self.tensors if t.role == "output" and _ignorable(t)]

    def first_failing_tensor(self):
        """The first tensor (inputs, then outputs, in recording order) that did not pass."""
        for t in self.tensors:
            if not t.passed and not _ignorable(t):
                return t
        unpaired = self.unpaired_outputs()
        return unpaired[0] if unpaired and self.status == Status.DIVERGED else None

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
            "parent_a": self.parent_a,
            "errors": {"a": self.error_a, "b": self.error_b},
            "notes": list(self.notes),
            "local": self.local,
            "introduces": self.introduces,
        }
        for key, value in self.extra.items():
            doc.setdefault(key, value)
        return doc

    _KNOWN = ("sample", "stage", "occurrence", "status", "tensors", "stage_b", "sample_b", "call_a", "call_b",
              "parent_a", "errors", "notes", "local", "introduces")

    @classmethod
    def from_json(cls, doc):
        """Rebuild an entry from its ``to_json`` document."""
        out = cls(doc.get("sample"), doc.get("stage"), doc.get("occurrence") or 0, status=doc.get("status"),
                  stage_b=doc.get("stage_b"), sample_b=doc.get("sample_b"), call_a=doc.get("call_a"),
                  call_b=doc.get("call_b"))
        out.parent_a = doc.get("parent_a")
        out.tensors = [TensorComparison.from_json(t) for t in doc.get("tensors") or () if isinstance(t, dict)]
        errors = doc.get("errors") or {}
        out.error_a, out.error_b = errors.get("a"), errors.get("b")
        out.notes = list(doc.get("notes") or ())
        out.local, out.introduces = doc.get("local"), doc.get("introduces")
        out.extra = {k: v for k, v in doc.items() if k not in cls._KNOWN}
        return out


def _ignorable(tensor):
    """A tensor recorded on one side only does not fail a stage by itself: extra arguments are common, and
    so are extra return values (the original returns a ratio as (r, r), the port as r). It is reported in
    the stage's row; a call none of whose outputs pair is a divergence (see ``finish``)."""
    return tensor.status in (Status.ONLY_IN_A, Status.ONLY_IN_B)
