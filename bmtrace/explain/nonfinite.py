"""nonfinite: NaN/Inf that this stage introduces on one side (its inputs on that side are finite)."""
from __future__ import annotations

import numpy as np

from ._arrays import as_numeric
from .hint import Hint

# exp() of a float32 above this overflows to inf (float64: 709.78).
EXP_OVERFLOW = {np.dtype(np.float32): 88.72, np.dtype(np.float64): 709.78, np.dtype(np.float16): 11.09}


def _counts(x):
    if x.dtype.kind != "f" or np.isfinite(np.min(x)) and np.isfinite(np.max(x)):
        return 0, 0  # min/max propagate NaN and reach +-inf: one cheap pass when all is finite
    return int(np.count_nonzero(np.isnan(x))), int(np.count_nonzero(np.isinf(x)))


def _inputs_state(inputs):
    """(all finite?, largest finite input value, its dtype) over the numeric inputs, or None."""
    if not inputs:
        return None
    finite, largest, dtype = True, None, None
    for name in list(inputs):
        try:
            x = as_numeric(inputs[name])
        except Exception:
            continue
        if x is None:
            continue
        if x.dtype.kind == "f":
            ok = np.isfinite(x)
            finite = finite and bool(ok.all())
            vals = x[ok]
        else:
            vals = x
        if vals.size:
            top = float(np.max(vals))
            if largest is None or top > largest:
                largest, dtype = top, x.dtype
    return finite, largest, dtype


def diagnose(ev):
    """A nonfinite hint when one side's output has NaN/Inf the other's lacks, born in this stage."""
    xa, xb = ev.xa, ev.xb
    if xa is None or xb is None or ev.role != "output":
        return []
    (nan_a, inf_a), (nan_b, inf_b) = _counts(xa), _counts(xb)
    if (nan_a + inf_a == 0) == (nan_b + inf_b == 0):
        return []  # neither side, or both: not a difference this diagnosis can attribute
    side, nan, inf, inputs = ("B", nan_b, inf_b, ev.inputs_b) if nan_b + inf_b else ("A", nan_a, inf_a, ev.inputs_a)
    state = _inputs_state(inputs)
    if state is not None and not state[0]:
        return []  # its inputs already hold NaN/Inf: an upstream stage produced them
    total = xb.size if side == "B" else xa.size
    details = {"side": side, "nan": nan, "inf": inf, "elements": total,
               "inputs_finite": None if state is None else True}
    where = "its inputs are finite, so this stage produces them" if state is not None else \
        "this stage's inputs were not recorded"
    message = "%s has %d NaN and %d Inf (of %d) where %s has none; %s" % (
        side, nan, inf, total, "A" if side == "B" else "B", where)
    if state is not None and state[1] is not None:
        limit = EXP_OVERFLOW.get(np.dtype(state[2]), EXP_OVERFLOW[np.dtype(np.float32)])
        details["largest_input"] = state[1]
        if state[1] > limit:
            details["exp_overflow"] = True
            message += (" (inputs reach %.4g: exp() overflows above %.4g, e.g. a softmax without "
                        "max subtraction; subtract the max before exp)" % (state[1], limit))
    return [Hint("nonfinite", message, 0.9 if state is not None else 0.6, None, details)]
