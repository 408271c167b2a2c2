"""layout, channel_order, value_scale and normalization: search structure x value model, then ablate.

B may hold A transposed, reshaped, channel-reversed, scaled or normalised, or several at once
(e.g. the port normalises BGR where the original normalises RGB). Every structural candidate is
scored with its best value model on a strided sample; the best chain wins, and each of its causes
becomes a hint only if removing it from the chain makes the fit substantially worse.
"""
from __future__ import annotations

import time

import numpy as np

from . import normalization
from ._arrays import integer_valued, strided_selection
from .hint import Hint
from .rounding import match_rounding
from .structure import candidates, squeeze
from .values import SUBSTANTIAL, best_fit

# Elements used to score candidates, and to measure the chosen chain's residual.
SCORE_CAP = 1 << 16
MEASURE_CAP = 1 << 20
# Without a same-shape baseline, a fit must leave less than this fraction of B's spread.
GOOD_FIT = 0.25


class _Scored:
    def __init__(self, structure, fit, identity):
        self.structure, self.fit, self.identity = structure, fit, identity


def _channel_ids(shape, axis, selection):
    """Channel index of every selected element, flattened like the selection."""
    if axis is None:
        return None, 0
    ids = np.arange(shape[axis])[selection[axis]]
    view_shape = [1] * len(shape)
    view_shape[axis] = ids.size
    sel_shape = [len(range(*s.indices(n))) for s, n in zip(selection, shape)]
    return np.broadcast_to(ids.reshape(view_shape), sel_shape).ravel(), shape[axis]


def _sample(structure, sa, selection):
    return np.asarray(structure.apply(sa)[selection], dtype=np.float64).ravel()


def _apply_fit(fit, xa, ch):
    p = fit.params
    if fit.kind == "identity":
        return xa
    if fit.kind == "scale":
        return p["k"] * xa
    if fit.kind == "affine":
        return p["alpha"][0] * xa + p["beta"][0]
    alpha, beta = np.asarray(p["alpha"]), np.asarray(p["beta"])
    return alpha[ch] * xa + beta[ch]


def _color_names(meta_a, meta_b):
    def color(meta):
        if not meta:
            return None
        for key in ("color", "mode", "format"):
            value = str(meta.get(key, "")).upper()
            for name in ("BGR", "RGB"):
                if name in value:
                    return name
        return None
    return color(meta_a), color(meta_b)


def _structure_hint(cause, op, scored_details, meta_a, meta_b, confidence, residual):
    if cause == "channel_order":
        color_a, color_b = _color_names(meta_a, meta_b)
        if color_a and color_b and color_a != color_b:
            message = ("the port feeds %s, the original %s: convert with cv2.cvtColor(img, "
                       "cv2.COLOR_%s2%s) before normalize" % (color_b, color_a, color_b, color_a))
        else:
            message = ("B's colour channels are A's in reverse order (BGR vs RGB): convert the port's "
                       "image with cv2.cvtColor(img, cv2.COLOR_BGR2RGB) (or reverse channel axis %d) "
                       "before normalize" % op["axis"])
    elif op["kind"] == "transpose":
        inverse = [int(i) for i in np.argsort(op["axes"])]
        if "from" in op:
            message = ("B is A transposed from %s to %s: the port must produce the original's layout "
                       "(np.transpose(b, %s) restores A's)" % (op["from"], op["to"], tuple(inverse)))
        else:
            message = ("B is A transposed by axes %s: the port must produce the original's layout "
                       "(np.transpose(b, %s) restores A's)" % (tuple(op["axes"]), tuple(inverse)))
    else:
        if "from" in op:
            perm = [op["from"].index(letter) for letter in op["to"]]
            message = ("B holds A's %s bytes reshaped to %s instead of transposed: use "
                       "np.transpose(x, %s) (torch permute), not reshape/view" % (
                           op["from"], op["to"], tuple(perm)))
        else:
            message = ("B holds A's bytes reshaped from %s to %s instead of transposed: use a transpose "
                       "(np.transpose / torch permute), not reshape/view" % (
                           tuple(op["shape_a"]), tuple(op["shape_b"])))
    details = dict(scored_details)
    details.update(op)
    return Hint(cause, message, confidence, residual, details)


def _confidence(before_rms, after_rms, spread):
    if before_rms is None or before_rms <= 0:
        ratio = after_rms / spread if spread > 0 else 1.0
    else:
        ratio = after_rms / before_rms
    quality = 1.0 if spread <= 0 or after_rms <= 0.02 * spread else 0.75
    return max(0.0, min(1.0, (1.0 - ratio) * quality))


def diagnose(a, b, meta_a=None, meta_b=None, deadline=None):
    """Hints for layout, channel_order, value_scale and normalization of the pair, best first.

    Args:
        a, b: numeric arrays of A (original) and B (port).
        meta_a, meta_b: per-tensor meta dicts (layout, color) or None.
        deadline: time.perf_counter() value after which remaining candidates are skipped.
    Returns:
        (hints, explained): explained is True when the chain accounts for the difference.
    """
    sa, letters_a = squeeze(a, meta_a)
    sb, letters_b = squeeze(b, meta_b)
    structures = candidates(sa.shape, sb.shape, letters_a, letters_b)
    if not structures or sb.size < 2:
        return [], False
    selection, _ = strided_selection(sb.shape, SCORE_CAP)
    xb = np.asarray(sb[selection], dtype=np.float64).ravel()
    cax = letters_b.index("C") if letters_b and "C" in letters_b else None
    if cax is None:
        flips = [d for c, d in (op for s in structures for op in s.ops) if c == "channel_order"]
        cax = flips[0]["axis"] if flips else None
    ch, nch = _channel_ids(sb.shape, cax, selection)

    scored = {}
    for structure in structures:
        if deadline is not None and time.perf_counter() > deadline and scored:
            break
        xa = _sample(structure, sa, selection)
        finite = np.isfinite(xa) & np.isfinite(xb)
        if finite.mean() < 0.5:
            continue
        fit, identity = best_fit(xa[finite], xb[finite], None if ch is None else ch[finite], nch)
        scored[structure.key()] = _Scored(structure, fit, identity)
    if not scored:
        return [], False

    floor = 1e-9 * max(1.0, float(np.max(np.abs(xb[np.isfinite(xb)]))) if np.isfinite(xb).any() else 1.0)
    best = min(scored.values(), key=lambda s: (s.fit.rms, len(s.structure.ops)))
    # Prefer fewer structural ops when they fit as well (a grey image is its own channel reversal).
    for s in sorted(scored.values(), key=lambda s: len(s.structure.ops)):
        if s.fit.rms <= best.fit.rms * 1.05 + floor:
            best = s
            break
    if not best.structure.ops and best.fit.kind == "identity":
        return [], False

    spread = float(np.std(xb[np.isfinite(xb)]))
    baseline = scored.get(())
    if baseline is not None:
        if best.fit.rms > SUBSTANTIAL * baseline.identity.rms:
            return [], False
    elif best.fit.rms > GOOD_FIT * spread:
        return [], False

    # Measure the chosen chain on a larger sample for the residual the user sees.
    big_sel, sampled = strided_selection(sb.shape, MEASURE_CAP)
    xb_big = np.asarray(sb[big_sel], dtype=np.float64).ravel()
    xa_big = _sample(best.structure, sa, big_sel)
    ch_big, _ = _channel_ids(sb.shape, cax, big_sel)
    finite = np.isfinite(xa_big) & np.isfinite(xb_big)
    pred = _apply_fit(best.fit, xa_big[finite], None if ch_big is None else ch_big[finite])
    target = xb_big[finite]
    after_extra = {}
    if best.fit.kind != "identity" and integer_valued(target) and not integer_valued(pred):
        rounding = match_rounding(pred, target, b.dtype)
        if rounding is not None:
            pred = rounding.pop("values")
            after_extra["then_rounded"] = rounding
    diff = np.abs(target - pred)
    after_max = float(diff.max()) if diff.size else 0.0
    after_rms = float(np.sqrt(np.mean(diff * diff))) if diff.size else 0.0
    after = {"after_max_abs": after_max, "after_rms": after_rms, "sampled": bool(sampled),
             "explained_by": best.structure.causes() + ([] if best.fit.kind == "identity" else
                                                        ["value_scale" if best.fit.kind == "scale"
                                                         else "normalization"])}
    after.update(after_extra)

    hints = []
    for cause, op in best.structure.ops:
        ablated = scored.get(best.structure.without(cause))
        before_rms = ablated.fit.rms if ablated is not None else None
        if before_rms is not None and best.fit.rms > SUBSTANTIAL * before_rms:
            continue  # this op does not matter to the fit: stay silent about it
        before = {"before_rms": before_rms,
                  "before_max_abs": ablated.fit.max_abs if ablated is not None else None}
        details = dict(before, **after)
        hints.append(_structure_hint(cause, op, details, meta_a, meta_b,
                                     _confidence(before_rms, best.fit.rms, spread), after_max))
    if best.fit.kind != "identity":
        before = {"before_rms": best.identity.rms, "before_max_abs": best.identity.max_abs}
        conf = _confidence(best.identity.rms, best.fit.rms, spread)
        xa_sel = _sample(best.structure, sa, selection)
        if best.fit.kind == "scale":
            hints.append(normalization.scale_hint(best.fit, before, after, conf))
        else:
            hints.append(normalization.normalization_hint(
                best.fit, xa_sel, xb, before, after, conf,
                flipped="channel_order" in best.structure.causes()))
    # channel_order first: the vendor's guide says fix BGR/RGB before judging normalisation.
    rank = {"channel_order": 0, "layout": 1, "value_scale": 2, "normalization": 3}
    hints.sort(key=lambda h: rank[h.cause])
    return hints, bool(hints)
