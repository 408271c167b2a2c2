"""The diff JSON document: a stable layout other tools (CI gates, the HTML report) read.

The key names in ``CONTRACT_KEYS``, ``STAGE_KEYS`` and ``TENSOR_KEYS`` are a contract (issue 3):
they are never renamed. More keys may be added next to them.
"""
from __future__ import annotations

import json
import math

FORMAT = "bmtrace-diff"
FORMAT_VERSION = 1

CONTRACT_KEYS = ("run_a", "run_b", "aligned", "first_divergence", "stages", "hints", "environment")
STAGE_KEYS = ("sample", "stage", "occurrence", "status", "tensors")
TENSOR_KEYS = ("name", "status", "max_abs_diff", "mean_abs_diff", "cosine", "equal_ratio",
               "shape_a", "shape_b", "dtype_a", "dtype_b")
HINT_KEYS = ("sample", "stage", "tensor", "cause", "message", "confidence")
STAGE_STATUSES = ("aligned", "diverged", "only_in_a", "only_in_b", "error")


def build_document(result):
    """The document for a DiffResult: contract keys first, then extras."""
    first = result.first_divergence
    summaries = result.by_stage()
    doc = {
        "run_a": result.run_a,
        "run_b": result.run_b,
        "aligned": bool(result.passed),
        "first_divergence": first.to_json() if first is not None else None,
        "stages": [e.to_json() for e in result.stages],
        "hints": [dict(h) for h in result.hints],
        "environment": result.environment,
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "side_a": result.side_a,
        "side_b": result.side_b,
        "summary": [_summary(s, first) for s in summaries],
        "samples": dict(result.samples),
        "tolerances": result.rules.to_json(),
        "warnings": list(result.warnings),
        "elapsed_s": result.elapsed_s,
        "isolation": getattr(result, "isolation", None),
    }
    for hint in doc["hints"]:
        for key in HINT_KEYS:
            hint.setdefault(key, None)
    return sanitize(doc)


def _summary(summary, first):
    worst_diff, worst_cos = summary.worst()
    samples = set(e.sample for e in summary.entries if e.status not in ("only_in_a", "only_in_b"))
    return {
        "stage": summary.stage,
        "status": summary.status,
        "samples_compared": len(samples),
        "calls_compared": summary.compared,
        "counts": summary.counts(),
        "worst_max_abs_diff": worst_diff,
        "worst_cosine": worst_cos,
        "first_divergence": first is not None and first.stage == summary.stage,
    }


def sanitize(value):
    """Copy of ``value`` with only JSON types: non-finite floats become None, tuples lists."""
    if isinstance(value, dict):
        return {_key(k): sanitize(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [sanitize(v) for v in value]
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    # numpy scalars and arrays without importing numpy here
    if hasattr(value, "tolist"):
        return sanitize(value.tolist())
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return repr(value)


def _key(key):
    return key if isinstance(key, str) else str(key)


def dumps(doc, indent=2):
    """Serialise a document as strict JSON (no NaN/Infinity tokens)."""
    return json.dumps(sanitize(doc), indent=indent, allow_nan=False, ensure_ascii=False)


def validate(doc):
    """Problems with a document's contract keys (an empty list when it follows the contract)."""
    problems = []
    for key in CONTRACT_KEYS:
        if key not in doc:
            problems.append("missing top-level key %r" % key)
    if not isinstance(doc.get("aligned"), bool):
        problems.append("'aligned' must be a bool")
    first = doc.get("first_divergence")
    if first is not None and not all(k in first for k in ("sample", "stage", "tensor")):
        problems.append("first_divergence needs sample, stage and tensor")
    for i, stage in enumerate(doc.get("stages") or []):
        for key in STAGE_KEYS:
            if key not in stage:
                problems.append("stages[%d] lacks %r" % (i, key))
        if stage.get("status") not in STAGE_STATUSES:
            problems.append("stages[%d] has status %r" % (i, stage.get("status")))
        for j, tensor in enumerate(stage.get("tensors") or []):
            for key in TENSOR_KEYS:
                if key not in tensor:
                    problems.append("stages[%d].tensors[%d] lacks %r" % (i, j, key))
    for i, hint in enumerate(doc.get("hints") or []):
        for key in HINT_KEYS:
            if key not in hint:
                problems.append("hints[%d] lacks %r" % (i, key))
    return problems
