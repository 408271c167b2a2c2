"""value_scale and normalization from the structure x value search (see chain.py)."""
from __future__ import annotations

from . import chain

CAUSES = ("value_scale", "normalization")


def diagnose(ev):
    """value_scale / normalization hints for a tensor pair: B = k*A, or a_c*A + b_c per channel."""
    hints, _ = chain.cached(ev)
    return [h for h in hints if h.cause in CAUSES]
