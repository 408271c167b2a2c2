"""N-way diff: one reference run, several candidates (PyTorch -> ONNX -> FP32 BModel -> INT8 BModel).

Each candidate is diffed against the reference with the same options (``bmtrace.diff``); the result
is the list of pairwise DiffResults plus a stage x candidate matrix. The exit code is the worst
candidate's. Text and HTML renderings live in ``bmtrace.report.nway`` (results import no renderer).
"""
from __future__ import annotations


from ..compare import status as vocabulary
from .engine import _open, diff
from .result import DiffResult

FORMAT = "bmtrace-diff-nway"
FORMAT_VERSION = 1


def diff_many(reference, candidates, progress=None, **options):
    """Diff every candidate against ``reference``; returns an NWayResult.

    ``options`` are ``bmtrace.diff``'s keyword options; ``progress(done, total)`` is called with each
    candidate's stage calls (a progress bar's ``label`` is set to the candidate's number).
    """
    ref = _open(reference)
    results = []
    for i, candidate in enumerate(candidates, 1):
        if progress is not None and hasattr(progress, "label"):
            progress.label = "diff %d/%d" % (i, len(candidates))
        results.append(diff(ref, candidate, progress=progress, **options))
    return NWayResult(ref.path, results)


class NWayResult:
    """Pairwise results of several candidates against one reference.

    Attributes:
        reference: the reference run's path.
        results: one DiffResult per candidate, in the order given.
    """

    def __init__(self, reference, results):
        self.reference = reference
        self.results = list(results)

    @property
    def worst(self):
        """The candidate result with the worst status (the first of equals)."""
        return min(self.results, key=lambda r: vocabulary.rank(r.status))

    @property
    def exit_code(self):
        return self.worst.exit_code

    def __bool__(self):
        return all(self.results)

    def stage_order(self):
        """Stage names: the reference's order, then stages only some candidates have."""
        order = []
        for result in self.results:
            for name in result.stage_order:
                if name not in order:
                    order.append(name)
        return order

    def matrix(self):
        """Rows ``{"stage", "cells": [{"status", "word", "max_abs_diff", "lower_bound", "first"} or None]}``."""
        per_result = []
        for result in self.results:
            first = result.first_divergence
            per_result.append(({s.stage: s for s in result.by_stage()}, first.stage if first is not None else None))
        rows = []
        for stage in self.stage_order():
            cells = []
            for summaries, first_stage in per_result:
                summary = summaries.get(stage)
                if summary is None:
                    cells.append(None)
                    continue
                max_abs, _cos, lower, _reason = summary.figures()
                cells.append({"status": summary.status, "word": vocabulary.word(summary.status),
                              "max_abs_diff": max_abs, "lower_bound": lower, "first": stage == first_stage})
            rows.append({"stage": stage, "cells": cells})
        return rows

    def one_line(self):
        """Verdict per candidate on one line each."""
        return "\n".join("%s: %s" % (label(r.run_b), r.one_line()) for r in self.results)

    def to_json(self):
        """``{"format": "bmtrace-diff-nway", "reference", "candidates": [pairwise documents], "matrix"}``."""
        from ..compare.results import sanitize

        worst = self.worst
        return sanitize({
            "format": FORMAT, "format_version": FORMAT_VERSION, "reference": self.reference,
            "verdict": worst.verdict, "status": worst.status, "exit_code": self.exit_code,
            "candidates": [r.to_json() for r in self.results], "matrix": self.matrix(),
        })

    @classmethod
    def from_json(cls, doc):
        """Rebuild from ``to_json``'s document."""
        if not isinstance(doc, dict) or doc.get("format") != FORMAT:
            raise ValueError("not a bmtrace N-way diff document (format %r)" % FORMAT)
        return cls(doc.get("reference"), [DiffResult.from_json(d) for d in doc.get("candidates") or ()])


def label(path):
    """The last part of a run path (a column header)."""
    parts = [p for p in str(path).replace("\\", "/").split("/") if p]
    return parts[-1] if parts else str(path)
