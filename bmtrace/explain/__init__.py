"""Diagnoses that say why a tensor pair (or a multi-output stage) diverges between A and B.

Pure numpy at the core; the resize diagnosis imports cv2/PIL/torchvision lazily and skips whatever
is missing. See `explain_tensor_pair` and `explain_stage_outputs`.
"""
from __future__ import annotations

from .engine import explain_tensor_pair
from .hint import CAUSES, Hint
from .resize import preload
from .stage import explain_stage_outputs

__all__ = ["CAUSES", "Hint", "explain_stage_outputs", "explain_tensor_pair", "preload"]
