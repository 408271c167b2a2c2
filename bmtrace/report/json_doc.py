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


def write(doc, f, streamed):
    """Write ``doc`` to the text file ``f`` as ``dumps`` would, but for the lists of ``streamed``
    (``{key: iterable}``, in place of ``doc[key]``): their items are serialised one at a time, each on
    one line. A diff of 100,000 samples holds 300,000 stage entries: held whole, the document and its
    copies took gigabytes, and indenting every entry took most of the time."""
    if not doc:
        f.write(dumps(doc))
        return
    f.write("{")
    for number, (key, value) in enumerate(doc.items()):
        f.write("%s\n  %s: " % ("," if number else "", json.dumps(key, ensure_ascii=False)))
        if key in streamed:
            _write_list(streamed[key], f)
        else:
            f.write(dumps(value).replace("\n", "\n  "))  # JSON text holds no raw newline but its own
    f.write("\n}")


def _write_list(items, f):
    first = True
    for item in items:
        f.write("%s\n    %s" % ("[" if first else ",", _one_line(item)))
        first = False
    f.write("[]" if first else "\n  ]")


def _one_line(item):
    """``item`` as strict JSON on one line. Most items are JSON-ready already (the encoder says so, in C);
    the others (NaN, numpy values, bytes) are sanitised first, as ``dumps`` does."""
    try:
        return json.dumps(item, allow_nan=False, ensure_ascii=False)
    except (TypeError, ValueError):
        return json.dumps(sanitize(item), allow_nan=False, ensure_ascii=False)
