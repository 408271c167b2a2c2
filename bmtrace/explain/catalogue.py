"""The diagnosis catalogue: every diagnosis, in precedence order, with its suppression rules.

Order is precedence: hints come out in this order, and a diagnosis is skipped when a cause in its
`unless` set was already found for the same evidence (a channel swap explains a pixel difference
better than a resize method would). A newcomer adds a module with `diagnose(ev) -> list[Hint]`
and one line here.
"""
from __future__ import annotations

from dataclasses import dataclass

from . import (boxes, chain_structure, chain_values, decoder, double_normalization, input_scale,
               json_rounding, letterbox_shape, nms, nonfinite, outputs, padding, precision, resize,
               rounding, scramble, thresholds)

# Causes that already account for a pixel-level difference between two images.
_STRUCTURAL = frozenset({"channel_order", "layout", "value_scale", "normalization"})
_EXPLAINED = _STRUCTURAL | {"resize_method", "padding", "decoder", "double_normalization",
                            "input_scale", "nonfinite", "letterbox_shape"}


@dataclass(frozen=True)
class Diagnosis:
    """One catalogue entry.

    Attributes:
        name: used in logs ("the padding diagnosis failed") and budget notes.
        module: the module whose `diagnose(ev) -> list[Hint]` runs (looked up at call time).
        unless: skip when one of these causes was already found for this evidence.
        final: stop the run after this diagnosis when it found something.
        when_inputs_differ: what to do with its hints when the stage's inputs already differ:
            "keep" (the hint is about the stage's own operation, judged on its own input),
            "check" (mark inherited when the inputs differ by the same representation),
            "drop" (the hint cannot tell the stage's work from what it received).
        always: run even when the budget is spent (it only reads what an earlier entry computed).
    """

    name: str
    module: object
    unless: frozenset = frozenset()
    final: bool = False
    when_inputs_differ: str = "keep"
    always: bool = False

    def run(self, ev):
        return self.module.diagnose(ev) or []


# Tensor pairs: explain(ev).
PAIR = (
    Diagnosis("json_rounding", json_rounding, final=True),
    Diagnosis("box_clip", boxes, unless=frozenset({"json_rounding"}), final=True),
    Diagnosis("thresholds", thresholds, final=True),
    Diagnosis("nms", nms, unless=frozenset({"thresholds"}), final=True, when_inputs_differ="drop"),
    Diagnosis("letterbox_shape", letterbox_shape),
    Diagnosis("structure", chain_structure, unless=frozenset({"letterbox_shape"}),
              when_inputs_differ="check"),
    Diagnosis("scramble", scramble, unless=frozenset({"channel_order", "layout", "letterbox_shape"}),
              when_inputs_differ="check"),
    Diagnosis("double_normalization", double_normalization),
    Diagnosis("input_scale", input_scale, unless=frozenset({"double_normalization"})),
    Diagnosis("value", chain_values, unless=frozenset({"double_normalization", "input_scale"}),
              when_inputs_differ="check", always=True),
    Diagnosis("nonfinite", nonfinite),
    Diagnosis("resize_method", resize),
    Diagnosis("padding", padding, unless=_STRUCTURAL | {"letterbox_shape"}),
    Diagnosis("decoder", decoder, unless=_EXPLAINED),
    Diagnosis("dtype_rounding", rounding, unless=_EXPLAINED),
    Diagnosis("precision", precision, unless=_EXPLAINED | {"dtype_rounding"}, when_inputs_differ="drop"),
)

# Whole stages (all outputs at once): explain_stage(ev).
STAGE = (
    Diagnosis("output_order", outputs, final=True),
    Diagnosis("thresholds", thresholds, final=True),
    Diagnosis("nms", nms, unless=frozenset({"thresholds"}), when_inputs_differ="drop"),
)
