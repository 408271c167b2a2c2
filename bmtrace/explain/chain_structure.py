"""channel_order and layout from the structure x value search (see chain.py)."""
from __future__ import annotations

from . import chain

CAUSES = ("channel_order", "layout")


def diagnose(ev):
    """channel_order / layout hints for a tensor pair: B holds A transposed, reshaped or BGR."""
    hints, _ = chain.cached(ev)
    return [h for h in hints if h.cause in CAUSES]
