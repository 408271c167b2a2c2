"""The Hint value: one explanation of why a tensor pair (or a stage) diverges."""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

# The `cause` vocabulary is a contract (issues 7 and 15): the diff JSON and the report use these
# exact words. Add new causes at the end; never rename one.
CAUSES = (
    "channel_order",
    "layout",
    "value_scale",
    "normalization",
    "resize_method",
    "padding",
    "output_order",
    "dtype_rounding",
    "nms",
    "precision",
    "letterbox_shape",
    "box_clip",
    "thresholds",
    "double_normalization",
    "nonfinite",
    "input_scale",
    "decoder",
    "json_rounding",
)


@dataclass
class Hint:
    """One diagnosis: a cause, a message saying what to change, and how much it explains.

    Attributes:
        cause: one of CAUSES.
        message: what differs and what to change, in one sentence.
        confidence: 0..1, how sure the diagnosis is.
        residual: max abs difference left after applying the explanation, or None when the
            explanation cannot be applied to the values (e.g. a size mismatch only).
        details: JSON-serialisable facts behind the hint (before/after residuals, fitted constants).
    """

    cause: str
    message: str
    confidence: float
    residual: float | None = None
    details: dict = field(default_factory=dict)

    def __post_init__(self):
        if self.cause not in CAUSES:
            raise ValueError("unknown hint cause %r; expected one of %s" % (self.cause, ", ".join(CAUSES)))
        self.confidence = float(min(1.0, max(0.0, self.confidence)))
        if self.residual is not None:
            self.residual = float(self.residual)
        self.details = _jsonable(self.details)

    def to_json(self):
        """Return the hint as a plain dict: cause, message, confidence, residual, details."""
        return {
            "cause": self.cause,
            "message": self.message,
            "confidence": round(self.confidence, 3),
            "residual": _json_float(self.residual),
            "details": self.details,
        }


def _json_float(value):
    # JSON has no inf/nan; None says "not measurable" better than a string would.
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def _jsonable(value):
    """Convert numpy scalars/arrays and tuples to plain JSON types, recursively."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return _jsonable(value.tolist())
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return _json_float(value)
    if value is None or isinstance(value, str):
        return value
    return repr(value)
