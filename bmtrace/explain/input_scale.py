"""input_scale: an INT8 model's input scale applied twice, or not at all.

sail.Engine.process quantises float inputs of an INT8 input itself as round(x * input_scale)
clipped to [-128, 127] (SOPHON.md, sophon-sail v3.10). A port that also quantises (or multiplies by
the scale) applies it twice; one that casts to int8 without the scale applies it not at all
(sophon-demo#109).
"""
from __future__ import annotations

import numpy as np

from ._arrays import integer_valued, round_sig
from ._samples import aligned_samples
from .hint import Hint

EXACT_FRACTION = 0.99
NICE = (1.0, 255.0, 1 / 255.0, 2.0, 0.5)


def _model_scale(model):
    if not isinstance(model, dict):
        return None
    for entry in model.get("inputs") or []:
        if isinstance(entry, dict) and entry.get("scale") not in (None, 1, 1.0):
            return float(entry["scale"])
    return None


def _quantised_with(xa, xb, known=()):
    """k when xb == clip(round(k * xa), -128, 127) at nearly every element, else None.

    Least squares is biased by the rounding, so the known scales (the bmodel's, 1, the familiar
    constants) and the median ratio on large values compete with it; the best reproduction wins.
    """
    inside = (np.abs(xb) < 127) & (xa != 0)
    if inside.sum() < 16:
        return None
    options = [float(np.sum(xa[inside] * xb[inside]) / np.sum(xa[inside] ** 2))]
    big = inside & (np.abs(xb) > 32)
    if big.sum() >= 8:
        options.append(float(np.median(xb[big] / xa[big])))
    options.extend(float(k) for k in known if k)
    options.extend(NICE)
    best = None
    for k in options:
        if k <= 0:
            continue
        equal = float(np.mean(np.clip(np.rint(k * xa), -128, 127) == xb))
        if best is None or equal > best[0]:
            best = (equal, k)
    return best[1] if best and best[0] >= EXACT_FRACTION else None


def diagnose(ev):
    """An input_scale hint when one side holds the other quantised to int8 with a scale."""
    samples = aligned_samples(ev)
    if samples is None:
        return []
    xa, xb, _ = samples
    scale = _model_scale(ev.model_b)
    details = {"model_input_scale": scale}
    if integer_valued(xb) and not integer_valued(xa) and np.min(xb) >= -128 and np.max(xb) <= 127:
        k = _quantised_with(xa, xb, (scale, scale * scale if scale else None))
        if k is None:
            return []
        details.update(k=k, kind="quantised")
        if scale is not None and abs(k / scale - 1) < 0.01:
            message = ("B is A quantised with the bmodel's input scale %.6g (round(x*scale), int8): "
                       "sail quantises float inputs itself, so the scale is applied twice; feed floats"
                       % scale)
        elif scale is not None and abs(k - 1) < 0.01:
            details["kind"] = "missing"
            message = ("B is A cast to int8 without the bmodel's input scale %.6g: quantise as "
                       "round(x*scale), or feed floats and let sail quantise" % scale)
        elif scale is None and not any(abs(k / n - 1) < 0.01 for n in NICE):
            message = ("B is A quantised to int8 with scale %.6g (round(x*%s) clipped): the port applies "
                       "an INT8 input scale; if the engine quantises float inputs too, it is applied "
                       "twice" % (k, round_sig(k)))
        else:
            return []
        return [Hint("input_scale", message, 0.85, 0.0, details)]
    if scale is not None and not integer_valued(xb):
        with np.errstate(divide="ignore", invalid="ignore"):
            nz = xa != 0
            if nz.sum() >= 16 and np.allclose(xb[nz] / xa[nz], scale, rtol=1e-5):
                details["kind"] = "premultiplied"
                return [Hint("input_scale", "B is A multiplied by the bmodel's input scale %.6g; sail "
                             "multiplies by it again when it quantises: feed A's values" % scale,
                             0.85, 0.0, details)]
    return []
