"""The diff JSON document as text: strict serialisation and the contract check.

``DiffResult.to_json()`` builds the document and ``DiffResult.from_json()`` reads it back. The key
names in ``CONTRACT_KEYS``, ``STAGE_KEYS`` and ``TENSOR_KEYS`` are a contract: they are never renamed.
More keys may be added next to them.
"""
from __future__ import annotations

import json

from ..compare.results import sanitize
from ..compare.status import STAGE_STATUSES

CONTRACT_KEYS = ("run_a", "run_b", "aligned", "first_divergence", "stages", "hints", "environment")
STAGE_KEYS = ("sample", "stage", "occurrence", "status", "tensors")
TENSOR_KEYS = ("name", "status", "max_abs_diff", "mean_abs_diff", "cosine", "equal_ratio",
               "shape_a", "shape_b", "dtype_a", "dtype_b")
HINT_KEYS = ("sample", "stage", "tensor", "cause", "message", "confidence")


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
