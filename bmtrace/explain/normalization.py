"""value_scale and normalization hints from a fitted value model (k*A, or a_c*A + b_c per channel)."""
from __future__ import annotations

import numpy as np

from ._arrays import looks_like_raw_pixels, looks_like_unit_pixels, round_sig
from .hint import Hint

SWAP_TOLERANCE = 0.05
CONVERT_TO_NOTE = ("(alpha, beta) per channel for raw 0..255 input, F32 model; for a model with "
                   "int8 input multiply both by the bmodel input scale")

_SCALE_WORDS = {
    255.0: "B is A x 255: one side holds 0..255 pixels, the other 0..1 (ToTensor divides by 255); "
           "divide the port's values by 255 (or fold 1/255 into Bmcv.convert_to alpha)",
    1 / 255.0: "B is A / 255: the port divides by 255 where the original keeps 0..255 pixels; "
               "drop the division (or remove 1/255 from Bmcv.convert_to alpha)",
}


def scale_hint(fit, before, after, confidence):
    """A value_scale hint for a fitted B = k*A."""
    k = fit.params["k"]
    message = _SCALE_WORDS.get(k) or (
        "B is A x %s: the port scales values by %s relative to the original; multiply the port's "
        "values by %s" % (round_sig(k), round_sig(k), round_sig(1.0 / k)))
    details = dict(before, k=k)
    details.update(after)
    return Hint("value_scale", message, confidence, after["after_max_abs"], details)


def mean_std_from_raw(alpha, beta, unit):
    """Normalisation constants (in 0..1 pixel units) of out = alpha*raw + beta.

    raw is 0..255 pixels (unit=False) or 0..1 pixels (unit=True); the normalised side computed
    (raw/255 - mean)/std, so alpha = 1/(255*std) and beta = -mean/std.
    """
    alpha, beta = np.asarray(alpha, float), np.asarray(beta, float)
    if np.any(alpha == 0):
        return None
    std = 1.0 / (alpha * (1.0 if unit else 255.0))
    mean = -beta * std
    return [round_sig(m) for m in mean], [round_sig(s) for s in std]


def _convert_to(mean, std):
    # sail Bmcv.convert_to applies alpha*x+beta to raw 0..255 pixels per channel
    # (sophon-demo FP32BModel_Precise_Alignment.md: alpha = 1/(255*std), beta = -mean/std).
    return [[round_sig(1.0 / (255.0 * s), 6), round_sig(-m / s, 6)] for m, s in zip(mean, std)]


def _fmt(values):
    return "(" + ", ".join("%g" % v for v in values) + ")"


def _swapped_constants(alpha, beta):
    """True when B_c = alpha_c*A_c + beta_c is one mean/std set applied in reversed channel order.

    If A normalised RGB with (m, s) and B normalised BGR with the same (m, s), then after reversing
    B's channels alpha_c = s_{2-c}/s_c and beta_c = (m_{2-c} - m_c)/s_c, hence
    alpha_c*alpha_{2-c} = 1 and beta_c + alpha_c*beta_{2-c} = 0.
    """
    if len(alpha) != 3:
        return False
    # 5%: noise in A (e.g. a different resize upstream) shrinks least-squares slopes a little.
    for c in range(3):
        r = 2 - c
        if abs(alpha[c] * alpha[r] - 1) > SWAP_TOLERANCE or \
                abs(beta[c] + alpha[c] * beta[r]) > SWAP_TOLERANCE * (1 + abs(beta[c])):
            return False
    return True


def normalization_hint(fit, xa, xb, before, after, confidence, flipped=False, channels=1):
    """A normalization hint for a fitted B = alpha_c*A + beta_c, naming implied mean/std when possible.

    Args:
        fit: the affine or channel_affine Fit (A -> B).
        xa, xb: the sampled values of both sides, used to see which side is raw pixels.
    """
    alpha, beta = list(fit.params["alpha"]), list(fit.params["beta"])
    if len(alpha) == 1 and channels > 1:
        # One (alpha, beta) for all channels; convert_to still wants one pair per channel.
        alpha, beta = alpha * channels, beta * channels
    details = dict(before, alpha=alpha, beta=beta, per_channel=fit.kind == "channel_affine")
    details.update(after)
    raw_a, raw_b = looks_like_raw_pixels(xa), looks_like_raw_pixels(xb)
    unit_a, unit_b = looks_like_unit_pixels(xa), looks_like_unit_pixels(xb)
    order = "in B's channel order" if fit.kind == "channel_affine" else "for every channel"
    if (raw_a or unit_a) and not (raw_b or unit_b):
        implied = mean_std_from_raw(alpha, beta, unit_a)
        if implied:
            mean, std = implied
            details.update(raw_side="A", normalized_side="B", mean=mean, std=std,
                           convert_to=_convert_to(mean, std), convert_to_note=CONVERT_TO_NOTE)
            message = ("A holds %s pixels, B the same pixels normalised with mean=%s std=%s (%s); "
                       "the original must normalise the same way, or the port must skip it "
                       "(Bmcv.convert_to alpha,beta = %s)" % (
                           "0..1" if unit_a else "raw 0..255", _fmt(mean), _fmt(std), order,
                           details["convert_to"]))
            return Hint("normalization", message, confidence, after["after_max_abs"], details)
    if (raw_b or unit_b) and not (raw_a or unit_a):
        inv_alpha = [1.0 / a if a else float("inf") for a in alpha]
        inv_beta = [-b / a if a else float("inf") for a, b in zip(alpha, beta)]
        implied = mean_std_from_raw(inv_alpha, inv_beta, unit_b)
        if implied:
            mean, std = implied
            details.update(raw_side="B", normalized_side="A", mean=mean, std=std,
                           convert_to=_convert_to(mean, std), convert_to_note=CONVERT_TO_NOTE)
            message = ("the port feeds %s pixels where the original normalises with mean=%s std=%s "
                       "(%s): add the normalisation, e.g. Bmcv.convert_to with (alpha, beta) = %s" % (
                           "0..1" if unit_b else "raw 0..255", _fmt(mean), _fmt(std), order,
                           details["convert_to"]))
            return Hint("normalization", message, confidence, after["after_max_abs"], details)
    if flipped and _swapped_constants(alpha, beta):
        details["same_constants_other_channel_order"] = True
        message = ("B applies A's per-channel mean/std to channels in the other order (constants meant "
                   "for RGB used on BGR, or the reverse): convert the port's image to the original's "
                   "channel order before normalize and the constants agree")
        return Hint("normalization", message, confidence, after["after_max_abs"], details)
    if looks_like_raw_pixels(xa) and looks_like_raw_pixels(xb):
        message = ("B = alpha*A + beta %s with alpha=%s beta=%s on 8-bit pixels: a brightness/contrast "
                   "or pixel-scaling step differs between the sides; make the port's match the "
                   "original's" % (order, _fmt(round_sig(a) for a in alpha),
                                   _fmt(round_sig(b) for b in beta)))
        return Hint("normalization", message, confidence, after["after_max_abs"], details)
    message = ("B = alpha*A + beta %s with alpha=%s beta=%s: the two sides normalise with different "
               "mean/std; use the original's constants in the port (Bmcv.convert_to alpha = "
               "1/(255*std), beta = -mean/std)" % (
                   order, _fmt(round_sig(a) for a in alpha), _fmt(round_sig(b) for b in beta)))
    return Hint("normalization", message, confidence, after["after_max_abs"], details)


def _same(x, y, rel=1e-3):
    return len(x) == len(y) and all(abs(u - v) <= rel * max(abs(u), abs(v), 1e-6) for u, v in zip(x, y))


def add_own_constants(hint, own_a, own_b):
    """Extend a normalization hint with the mean/std each side applied to its own raw input.

    Returns False when both sides apply the same constants in the same channel order: the stage
    then does the same thing on both sides and the hint must go (the difference is inherited).
    """
    if own_a is None or own_b is None:
        return True
    hint.details["a_normalization"] = own_a
    hint.details["b_normalization"] = own_b
    same_constants = _same(own_a["mean"], own_b["mean"]) and _same(own_a["std"], own_b["std"])
    if same_constants and own_a["channels_reversed"] == own_b["channels_reversed"]:
        return False
    words = []
    for side, own in (("A", own_a), ("B", own_b)):
        text = "%s normalises with mean=%s std=%s" % (side, _fmt(own["mean"]), _fmt(own["std"]))
        if own["channels_reversed"]:
            text += " (after reversing the channel order)"
        words.append(text)
    mean_a, std_a = own_a["mean"], own_a["std"]
    hint.details["convert_to"] = _convert_to(mean_a, std_a)
    hint.details["convert_to_note"] = CONVERT_TO_NOTE
    if same_constants:
        # Same constants, other channel order: the advice is about the order, never the constants.
        hint.details["same_constants"] = True
        hint.message = ("both sides normalise with mean=%s std=%s, but %s reverses the channel order "
                        "first: feed normalize the channel order the original uses" % (
                            _fmt(mean_a), _fmt(std_a), "A" if own_a["channels_reversed"] else "B"))
        return True
    hint.message = ("%s, %s: use the original's constants in the port (Bmcv.convert_to alpha,beta "
                    "in details)" % (words[0], words[1]))
    return True
