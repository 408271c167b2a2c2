"""explain_stage_outputs: the diff engine's stage-level entry point (output_order, thresholds, nms)."""
from __future__ import annotations

from .evidence import Evidence
from .run import explain_stage


def explain_stage_outputs(outputs_a, outputs_b, *, stage, budget_s=0.5, **context):
    """Hints about a stage's outputs as a whole, best first.

    Args:
        outputs_a, outputs_b: name -> array of the stage's outputs on each side (A = original).
        stage: stage name (kept for messages and logs).
        **context: any other Evidence field (inputs_a, meta_a, inherited, ...).
    Returns:
        list of Hint: output_order when the tensors match under a permutation or renaming,
        thresholds/nms when detections differ only by boxes near the thresholds; else empty.
    """
    ev = Evidence.with_budget(budget_s, stage=stage, outputs_a=outputs_a, outputs_b=outputs_b,
                              **context)
    return sorted(explain_stage(ev), key=lambda h: -h.confidence)
