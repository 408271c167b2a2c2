"""explain_stage_outputs: stage-level hints (output_order, nms) over all outputs of one stage."""
from __future__ import annotations

import logging

from . import nms, outputs

log = logging.getLogger("bmtrace.explain")


def explain_stage_outputs(outputs_a, outputs_b, *, stage):
    """Hints about a stage's outputs as a whole, best first.

    Args:
        outputs_a, outputs_b: name -> array of the stage's outputs on each side (A = original).
        stage: stage name (kept for messages and logs).
    Returns:
        list of Hint: output_order when the tensors match under a permutation or renaming, nms when
        detections differ only by boxes near the NMS thresholds; empty when neither applies.
    """
    if not outputs_a or not outputs_b:
        return []
    hints = []
    for name, diagnose in (("output_order", outputs.diagnose), ("nms", nms.diagnose)):
        try:
            hints = diagnose(outputs_a, outputs_b)
        except Exception:  # advice must never break the diff that asked for it
            log.warning("explain %s: the %s diagnosis failed", stage, name, exc_info=True)
        if hints:
            break
    return sorted(hints, key=lambda h: -h.confidence)
