"""Diagnoses that say why a tensor pair (or a multi-output stage) diverges between A and B.

Every diagnosis is a module with `diagnose(ev: Evidence) -> list[Hint]`, listed once in
catalogue.py (the order is the precedence); run.py applies the catalogue. `explain_tensor_pair`
and `explain_stage_outputs` are the diff engine's compatibility entry points. Pure numpy at the
core; the resize diagnosis imports cv2/PIL/torchvision lazily and skips whatever is missing.
"""
from __future__ import annotations

from .engine import explain_tensor_pair
from .evidence import Evidence, Inherited
from .hint import CAUSES, Hint
from .resize import preload
from .run import deduplicate, explain, explain_stage
from .stage import explain_stage_outputs

__all__ = ["CAUSES", "Evidence", "Hint", "Inherited", "deduplicate", "explain", "explain_stage",
           "explain_stage_outputs", "explain_tensor_pair", "preload"]
