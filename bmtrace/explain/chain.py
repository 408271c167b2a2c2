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
from ._arrays import (MIN_ELEMENTS, as_numeric, integer_valued, looks_like_raw_pixels,
                      strided_selection)
from .rounding import match_cast
from .structure import candidates, squeeze, structure_hint
from .values import SUBSTANTIAL, best_fit, fit_scale

# Elements used to score candidates, and to measure the chosen chain's residual.
SCORE_CAP = 1 << 16
MEASURE_CAP = 1 << 18
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


def _confidence(before_rms, after_rms, spread):
    if before_rms is None or before_rms <= 0:
        ratio = after_rms / spread if spread > 0 else 1.0
    else:
        ratio = after_rms / before_rms
    quality = 1.0 if spread <= 0 or after_rms <= 0.02 * spread else 0.75
    return max(0.0, min(1.0, (1.0 - ratio) * quality))


class _Search:
    """Every structure scored with its best value model on one strided sample of B."""

    def __init__(self, sa, sb, letters_b, structures, deadline):
        self.sa, self.sb = sa, sb
        self.selection, _ = strided_selection(sb.shape, SCORE_CAP)
        self.xb = np.asarray(sb[self.selection], dtype=np.float64).ravel()
        cax = letters_b.index("C") if letters_b and "C" in letters_b else None
        if cax is None:
            flips = [d for c, d in (op for s in structures for op in s.ops) if c == "channel_order"]
            cax = flips[0]["axis"] if flips else None
        self.cax = cax
        self.ch, self.nch = _channel_ids(sb.shape, cax, self.selection)
        self.scored = {}
        for structure in structures:
            if deadline is not None and time.perf_counter() > deadline and self.scored:
                break
            xa = _sample(structure, sa, self.selection)
            finite = np.isfinite(xa) & np.isfinite(self.xb)
            if finite.mean() < 0.5:
                continue
            ch = None if self.ch is None else self.ch[finite]
            fit, identity = best_fit(xa[finite], self.xb[finite], ch, self.nch)
            self.scored[structure.key()] = _Scored(structure, fit, identity)
        finite_b = self.xb[np.isfinite(self.xb)]
        self.floor = 1e-9 * max(1.0, float(np.max(np.abs(finite_b))) if finite_b.size else 1.0)
        self.spread = float(np.std(finite_b)) if finite_b.size else 0.0
        self.best = None
        if self.scored:
            best = min(self.scored.values(), key=lambda s: (s.fit.rms, len(s.structure.ops)))
            # Prefer fewer structural ops when they fit as well (grey is its own channel reversal).
            for s in sorted(self.scored.values(), key=lambda s: len(s.structure.ops)):
                if s.fit.rms <= best.fit.rms * 1.05 + self.floor:
                    best = s
                    break
            self.best = best


def _search(a, b, meta_a, meta_b, deadline):
    sa, letters_a = squeeze(a, meta_a)
    sb, letters_b = squeeze(b, meta_b)
    structures = candidates(sa.shape, sb.shape, letters_a, letters_b)
    if not structures or sb.size < MIN_ELEMENTS:
        return None
    search = _Search(sa, sb, letters_b, structures, deadline)
    return search if search.best is not None else None


def _prefer_scale_then_cast(best, xa, xb, dtype):
    """Undo an offset that only stands for truncation: k*A cast to int beats k*A + c with c ~ -0.5."""
    if best.fit.kind not in ("affine", "channel_affine") or not integer_valued(xb) or integer_valued(xa):
        return best
    finite = np.isfinite(xa) & np.isfinite(xb)
    scale = fit_scale(xa[finite], xb[finite])
    if scale is None:
        return best
    match, _, k = match_cast(scale, scale.pred, xa[finite], xb[finite], dtype)
    if match is None:
        return best
    if k is not None:
        scale.params["k"] = k
    return _Scored(best.structure, scale, best.identity)


def own_normalization(inputs, out, meta_out=None, deadline=None):
    """The mean/std one side applied in its normalize stage, from its raw-pixel input and output.

    Returns a dict (input, mean, std, channels_reversed) or None when no input of that stage is
    raw pixels that map linearly onto the output.
    """
    for name, value in (inputs or {}).items():
        raw = as_numeric(value)
        if raw is None or raw.size != out.size or not looks_like_raw_pixels(raw):
            continue
        search = _search(raw, out, None, meta_out, deadline)
        if search is None or search.best.fit.kind == "identity":
            continue
        fit = search.best.fit
        if fit.rms > 1e-3 * max(search.spread, 1e-12):
            continue  # not an exact per-channel affine map: this input is not what was normalised
        if fit.kind == "scale":
            alpha, beta = [fit.params["k"]], [0.0]
        else:
            alpha, beta = list(fit.params["alpha"]), list(fit.params["beta"])
        if len(alpha) == 1 and search.nch > 1:
            alpha, beta = alpha * search.nch, beta * search.nch
        implied = normalization.mean_std_from_raw(alpha, beta, unit=False)
        if implied is None:
            continue
        return {"input": name, "mean": implied[0], "std": implied[1],
                "channels_reversed": "channel_order" in search.best.structure.causes()}
    return None


def diagnose(a, b, meta_a=None, meta_b=None, deadline=None, inputs_a=None, inputs_b=None):
    """Hints for layout, channel_order, value_scale and normalization of the pair, best first.

    Args:
        a, b: numeric arrays of A (original) and B (port).
        meta_a, meta_b: per-tensor meta dicts (layout, color) or None.
        deadline: time.perf_counter() value after which remaining candidates are skipped.
        inputs_a, inputs_b: the stage's inputs per side; raw-pixel inputs let a normalization hint
            name each side's own mean/std.
    Returns:
        (hints, explained): explained is True when the chain accounts for the difference.
    """
    search = _search(a, b, meta_a, meta_b, deadline)
    if search is None:
        return [], False
    sa, sb, scored, best = search.sa, search.sb, search.scored, search.best
    xb, selection, cax = search.xb, search.selection, search.cax
    if not best.structure.ops and best.fit.kind == "identity":
        return [], False
    if search.spread <= 0 or np.std(_sample(best.structure, sa, selection)) <= 0:
        return [], False  # constant data: every transpose and scale "fits", none is evidence

    best = _prefer_scale_then_cast(best, _sample(best.structure, sa, selection), xb, b.dtype)
    spread = search.spread
    baseline = scored.get(())
    if baseline is not None:
        if best.fit.rms > SUBSTANTIAL * baseline.identity.rms:
            return [], False
    elif best.fit.rms > GOOD_FIT * spread:
        return [], False
    if best.fit.kind != "identity" and best.fit.rms > GOOD_FIT * spread:
        return [], False  # a linear map that leaves this much unexplained is not the cause

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
        rounding, pred, k = match_cast(best.fit, pred, xa_big[finite], target, b.dtype)
        if k is not None:
            best.fit.params["k"] = k  # truncation biased the least-squares k; the cast pins it
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
        hints.append(structure_hint(cause, op, details, meta_a, meta_b,
                                     _confidence(before_rms, best.fit.rms, spread), after_max))
    if best.fit.kind != "identity":
        before = {"before_rms": best.identity.rms, "before_max_abs": best.identity.max_abs}
        conf = _confidence(best.identity.rms, best.fit.rms, spread)
        xa_sel = _sample(best.structure, sa, selection)
        if best.fit.kind == "scale":
            hints.append(normalization.scale_hint(best.fit, before, after, conf))
        else:
            hint = normalization.normalization_hint(
                best.fit, xa_sel, xb, before, after, conf,
                flipped="channel_order" in best.structure.causes(), channels=search.nch)
            keep = True
            if inputs_a is not None and inputs_b is not None and "raw_side" not in hint.details:
                keep = normalization.add_own_constants(
                    hint, own_normalization(inputs_a, a, meta_a, deadline),
                    own_normalization(inputs_b, b, meta_b, deadline))
            if keep:  # both sides normalising alike means the difference came in with the inputs
                hints.append(hint)
    if "then_rounded" in after and hints and hints[-1].cause in ("value_scale", "normalization"):
        hints[-1].message += "; B is then cast to %s, and the cast %s" % (
            b.dtype.name, after["then_rounded"]["words"])
    # channel_order first: the vendor's guide says fix BGR/RGB before judging normalisation.
    rank = {"channel_order": 0, "layout": 1, "value_scale": 2, "normalization": 3}
    hints.sort(key=lambda h: rank[h.cause])
    return hints, bool(hints)


def cached(ev):
    """chain.diagnose on an Evidence, run once and shared by the structure and value entries."""
    if "chain" not in ev.cache:
        if ev.xa is None or ev.xb is None:
            ev.cache["chain"] = ([], False)
        else:
            ev.cache["chain"] = diagnose(ev.xa, ev.xb, ev.meta_a, ev.meta_b, ev.deadline,
                                         ev.inputs_a, ev.inputs_b)
    return ev.cache["chain"]
