"""json_rounding: eval output whose boxes/scores one side rounded to n decimals or cast to int."""
from __future__ import annotations

import numpy as np

from ._arrays import as_numeric
from ._detections import is_detection_array
from .hint import Hint

DECIMALS = range(0, 7)
# Nearly every element must match the rounding (a few exact ties may round the other way).
EXACT_FRACTION = 0.999


def records(x):
    """An (N, 5) array [x, y, w, h, score] from COCO-style result dicts, or None."""
    if not isinstance(x, (list, tuple)) or not x or not all(isinstance(r, dict) for r in x):
        return None
    rows = []
    for r in x:
        box, score = r.get("bbox"), r.get("score")
        if not isinstance(box, (list, tuple)) or len(box) != 4 or score is None:
            return None
        try:
            rows.append([float(v) for v in box] + [float(score)])
        except (TypeError, ValueError):
            return None
    return np.asarray(rows, dtype=np.float64)


def _arrays(ev):
    for a, b in ((records(ev.a), records(ev.b)), (ev.xa, ev.xb)):
        a, b = as_numeric(a) if a is not None else None, as_numeric(b) if b is not None else None
        if a is not None and b is not None and a.shape == b.shape and is_detection_array(a):
            return a.astype(np.float64), b.astype(np.float64)
    return None


def _rounded(full, short):
    """How `short` derives from `full`: ("decimals", n) or ("int", mode), or None."""
    if np.array_equal(full, short):
        return None
    for n in DECIMALS:
        step = 10.0 ** -n
        if np.mean(np.abs(np.round(full, n) - short) <= 0.01 * step) >= EXACT_FRACTION:
            if n == 0 and np.mean(np.trunc(full) == short) > np.mean(np.round(full) == short):
                return ("int", "truncated")
            return ("decimals", n)
    if np.mean(np.trunc(full) == short) >= EXACT_FRACTION:
        return ("int", "truncated")
    return None


def _words(kind):
    if kind[0] == "int":
        return "cast to int (truncated)"
    return "rounded to %d decimal%s" % (kind[1], "" if kind[1] == 1 else "s")


def diagnose(ev):
    """A json_rounding hint when one side's detections are the other's rounded or int-cast."""
    found = _arrays(ev)
    if found is None:
        return []
    a, b = found
    groups = [("boxes", slice(0, 4))] + ([("scores", slice(4, 5))] if a.shape[1] >= 5 else [])
    parts, details = [], {}
    for label, cols in groups:
        xa, xb = a[:, cols], b[:, cols]
        if np.array_equal(xa, xb):
            continue
        for side, full, short in (("B", xa, xb), ("A", xb, xa)):
            kind = _rounded(full, short)
            if kind is not None:
                details[label] = {"side": side, "kind": kind[0], "decimals": kind[1]
                                  if kind[0] == "decimals" else None}
                parts.append("%s's %s are %s's %s" % (side, label, "A" if side == "B" else "B",
                                                    _words(kind)))
                break
        else:
            return []  # this column group differs by more than rounding
    if not parts:
        return []
    details["before_max_abs"] = float(np.max(np.abs(a - b)))
    message = "; ".join(parts) + ": the eval output is rounded on one side only; round both the same way"
    if any(d["kind"] == "int" for d in details.values() if isinstance(d, dict)):
        message += " (int-cast boxes cost mAP: keep floats)"
    return [Hint("json_rounding", message, 0.9, 0.0, details)]
