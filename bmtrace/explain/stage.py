"""explain_stage_outputs: stage-level hints (output_order, nms) over all outputs of one stage."""
from __future__ import annotations

from . import nms, outputs


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
    hints = outputs.diagnose(outputs_a, outputs_b)
    if not hints:
        hints = nms.diagnose(outputs_a, outputs_b)
    return sorted(hints, key=lambda h: -h.confidence)
