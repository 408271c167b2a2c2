"""explain_tensor_pair: the diff engine's entry point, a thin wrapper building an Evidence."""
from __future__ import annotations

from .evidence import Evidence, Inherited
from .run import explain


def explain_tensor_pair(a, b, *, stage, tensor, inputs_a=None, inputs_b=None, meta_a=None,
                        meta_b=None, budget_s=0.5, **context):
    """Hints that explain why tensor `tensor` of stage `stage` differs between A and B, best first.

    Args:
        a, b: the diverged pair (A = original program, B = port).
        stage, tensor: names, used in log messages.
        inputs_a, inputs_b: name -> array of the same stage's recorded inputs, or None.
        meta_a, meta_b: per-tensor meta dicts ({"color": "BGR", "layout": "HWC"}), or None.
        budget_s: time budget; diagnoses still to run when it is spent are skipped.
        **context: any other Evidence field (role, outputs_a, call_a, env_a, model_a, inherited...).
    Returns:
        list of Hint; empty when no diagnosis explains the difference.

    Example:
        >>> hints = explain_tensor_pair(rgb, rgb[..., ::-1], stage="decode", tensor="out")
        >>> hints[0].cause
        'channel_order'
    """
    inherited = context.pop("inherited", None)
    ev = Evidence.with_budget(budget_s, stage=stage, tensor=tensor, a=a, b=b, inputs_a=inputs_a,
                              inputs_b=inputs_b, meta_a=meta_a, meta_b=meta_b,
                              inherited=inherited if inherited is not None else Inherited(),
                              **context)
    if ev.xa is None or ev.xb is None:
        from . import json_rounding
        if json_rounding.records(a) is None or json_rounding.records(b) is None:
            return []  # nothing numeric to diagnose
    return explain(ev)
