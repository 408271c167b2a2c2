"""double_normalization: mean/std applied twice on one side, or not at all where the model expects it.

Two sources of evidence:
- values: B = (A - m)/s per channel with plausible normalisation constants while A is already
  normalised (B normalises A's output again), or the reverse;
- model metadata: the bmodel fused mean/scale at compile time (model_transform --mean/--scale), yet
  the port feeds it normalised values (Bmcv.convert_to on top), or the bmodel has no fused
  preprocessing and the port feeds raw pixels (sophon-demo#51).
"""
from __future__ import annotations

import numpy as np

from . import chain
from ._arrays import as_numeric, looks_like_raw_pixels, round_sig
from .hint import Hint

# Normalisation constants real pipelines use, per channel, in 0..1 and in 0..255 pixel units.
UNIT_MEAN, UNIT_STD = (0.2, 0.8), (0.1, 0.8)
RAW_MEAN, RAW_STD = (50.0, 200.0), (25.0, 128.0)


def _plausible(mean, std):
    mean, std = np.asarray(mean, float), np.asarray(std, float)
    for (m_lo, m_hi), (s_lo, s_hi) in ((UNIT_MEAN, UNIT_STD), (RAW_MEAN, RAW_STD)):
        if np.all((mean >= m_lo) & (mean <= m_hi) & (std >= s_lo) & (std <= s_hi)):
            return True
    return False


def _fmt(values):
    return "(" + ", ".join("%g" % round_sig(v) for v in values) + ")"


def _from_values(ev):
    hints, _ = chain.cached(ev)
    norm = next((h for h in hints if h.cause == "normalization"), None)
    if norm is None or "raw_side" in norm.details or norm.details.get("same_constants_other_channel_order"):
        return []
    alpha, beta = np.asarray(norm.details["alpha"], float), np.asarray(norm.details["beta"], float)
    if np.any(alpha == 0):
        return []
    xa = ev.xa
    if looks_like_raw_pixels(xa) or float(np.min(xa)) >= 0:
        return []  # A is not normalised yet: a plain normalization difference, not a second pass
    # B = alpha*A + beta = (A - m)/s  =>  s = 1/alpha, m = -beta/alpha  (B normalised A again);
    # A = (B - m)/s  =>  B = s*A + m  =>  s = alpha, m = beta  (A normalised B again).
    for twice, std, mean in (("B", 1 / alpha, -beta / alpha), ("A", alpha, beta)):
        if _plausible(mean, std):
            details = dict(norm.details, twice_side=twice, mean=[round_sig(m) for m in mean],
                           std=[round_sig(s) for s in std], kind="twice")
            message = ("%s normalises values that are already normalised (a second pass with mean=%s "
                       "std=%s): apply the normalisation once" % (twice, _fmt(mean), _fmt(std)))
            return [Hint("double_normalization", message, 0.85, norm.residual, details)]
    return []


def _model_input(ev, side):
    """The tensor this side feeds its model: b/a itself when it is the call's input, else the
    largest float input of the call."""
    own = ev.xb if side == "b" else ev.xa
    if ev.role == "input" and own is not None:
        return own
    inputs = ev.inputs_b if side == "b" else ev.inputs_a
    best = None
    for name in list(inputs or {}):
        try:
            x = as_numeric(inputs[name])
        except Exception:
            continue
        if x is not None and x.ndim >= 3 and (best is None or x.size > best.size):
            best = x
    return best


def _from_model(ev):
    hints = []
    for side, model in (("b", ev.model_b), ("a", ev.model_a)):
        if not isinstance(model, dict) or "preprocess" not in model:
            continue
        fed = _model_input(ev, side)
        if fed is None or fed.size == 0:
            continue
        pre = model.get("preprocess") or {}
        fused = bool(pre.get("mean") is not None or pre.get("scale") is not None)
        raw = looks_like_raw_pixels(fed) if fed.dtype.kind in "iuf" else False
        name = side.upper()
        details = {"side": name, "preprocess": pre, "fed_min": float(np.min(fed)),
                   "fed_max": float(np.max(fed))}
        if fused and not raw:
            details["kind"] = "twice"
            hints.append(Hint("double_normalization", (
                "%s's bmodel already applies mean=%s scale=%s (fused at compile time) but is fed "
                "normalised values (%.3g..%.3g): feed raw 0..255 pixels (drop the Bmcv.convert_to "
                "normalisation)" % (name, pre.get("mean"), pre.get("scale"), details["fed_min"],
                                    details["fed_max"])), 0.9, None, details))
        elif not fused and raw:
            details["kind"] = "missing"
            hints.append(Hint("double_normalization", (
                "%s's bmodel has no fused preprocessing but is fed raw pixels (%.3g..%.3g): "
                "normalise before inference (Bmcv.convert_to) or fuse mean/scale at model_transform"
                % (name, details["fed_min"], details["fed_max"])), 0.9, None, details))
    return hints


def diagnose(ev):
    """double_normalization hints from model metadata, else from the values."""
    hints = _from_model(ev)
    if hints:
        return hints
    if ev.xa is None or ev.xb is None:
        return []
    return _from_values(ev)
