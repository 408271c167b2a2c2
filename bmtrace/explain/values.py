"""Value fits between aligned samples of A and B: identity, k*A, k*A+c, and per-channel a_c*A+b_c."""
from __future__ import annotations

import numpy as np

# Scale factors that real pipelines use; a fitted k this close to one of them is snapped to it.
NICE_SCALES = (255.0, 1 / 255.0, 256.0, 1 / 256.0, 127.5, 1 / 127.5, 128.0, 1 / 128.0,
               65535.0, 1 / 65535.0, 2.0, 0.5, -1.0)
SNAP_TOLERANCE = 2e-3
# Relative size of float32 rounding error (2**-23 is one ulp; results carry a few).
FLOAT32_NOISE = 1e-6
# A value model must remove at least half of the rms error of B == A to count.
SUBSTANTIAL = 0.5


class Fit:
    """One fitted value model and its residual on the samples."""

    def __init__(self, kind, params, pred, target):
        self.kind = kind
        self.params = params
        self.pred = pred
        diff = target - pred
        self.max_abs = float(np.max(np.abs(diff))) if diff.size else 0.0
        self.rms = float(np.sqrt(np.mean(diff * diff))) if diff.size else 0.0

    def __repr__(self):
        return "Fit(%s, %r, rms=%.3g)" % (self.kind, self.params, self.rms)


def _snap(k):
    for nice in NICE_SCALES:
        if abs(k / nice - 1.0) < SNAP_TOLERANCE:
            return nice
    return k


def _lstsq_affine(xa, xb):
    """Least-squares k, c with xb ~ k*xa + c; None when xa is constant."""
    va = np.var(xa)
    if xa.size < 2 or va <= 0:
        return None
    k = float(np.mean((xa - xa.mean()) * (xb - xb.mean())) / va)
    return k, float(xb.mean() - k * xa.mean())


def fit_identity(xa, xb):
    """B == A."""
    return Fit("identity", {}, xa, xb)


def fit_scale(xa, xb):
    """B == k*A, k snapped to a familiar constant when close; None when meaningless."""
    # Plain ufunc sums, not np.dot: BLAS threads stall on a busy machine for vectors this small.
    denom = float(np.sum(xa * xa))
    if denom <= 0 or np.var(xa) <= 0:
        return None  # a constant A fits any k: nothing would be learnt
    k = _snap(float(np.sum(xa * xb)) / denom)
    if abs(k - 1.0) < SNAP_TOLERANCE:
        return None
    return Fit("scale", {"k": k}, k * xa, xb)


def fit_affine(xa, xb):
    """B == k*A + c with one (k, c) for every element."""
    kc = _lstsq_affine(xa, xb)
    if kc is None:
        return None
    k, c = kc
    return Fit("affine", {"alpha": [k], "beta": [c]}, k * xa + c, xb)


def fit_channel_affine(xa, xb, ch, nch):
    """B == a_c*A + b_c per channel c."""
    if ch is None or nch < 2:
        return None
    pred = np.empty_like(xa)
    alphas, betas = [], []
    for c in range(nch):
        sel = ch == c
        kc = _lstsq_affine(xa[sel], xb[sel])
        if kc is None:
            return None
        alphas.append(kc[0])
        betas.append(kc[1])
        pred[sel] = kc[0] * xa[sel] + kc[1]
    return Fit("channel_affine", {"alpha": alphas, "beta": betas}, pred, xb)


def _quadratic_rms(xa, xb, ch, nch):
    """rms left by a per-channel (or global) quadratic fit of xb on xa."""
    groups = [np.ones(xa.shape, bool)] if ch is None or nch < 2 else [ch == c for c in range(nch)]
    total = 0.0
    for sel in groups:
        x, y = xa[sel], xb[sel]
        if x.size < 4 or np.var(x) <= 0:
            return None
        # Centre and scale x so the normal equations stay well conditioned for 0..255 pixels.
        u = (x - x.mean()) / x.std()
        design = np.stack([u * u, u, np.ones_like(u)], axis=1)
        coef = np.linalg.lstsq(design, y, rcond=None)[0]
        r = y - design @ coef
        total += float(np.sum(r * r))
    return float(np.sqrt(total / xa.size))


def is_curved(fit, xa, xb, ch=None, nch=0):
    """True when a quadratic explains B from A much better than the fitted linear model.

    A tone curve (gamma, contrast curve) is not a scale or a normalisation; independent noise on
    top of a true normalisation does not get any better with a quadratic term.
    """
    # A fit already at float rounding level cannot be "curved"; the quadratic would only win noise.
    if fit.kind == "identity" or fit.rms <= 1e-3 * float(np.std(xb)):
        return False
    quad = _quadratic_rms(xa, xb, ch if fit.kind == "channel_affine" else None, nch)
    return quad is not None and quad <= SUBSTANTIAL * fit.rms


def _bic(fit, n, params, floor):
    """Bayesian information criterion of a fit with Gaussian residuals (lower is better)."""
    return n * np.log(max(fit.rms, floor) ** 2) + params * np.log(n)


def best_fit(xa, xb, ch=None, nch=0):
    """The value model that explains B from A, or identity when none explains enough.

    Richer models always fit a little better, so scale, affine and per-channel affine compete by
    BIC (a per-channel model must earn its extra parameters even when unrelated noise, such as a
    different resize upstream, dominates the residual). The winner must remove at least half of
    the rms error of B == A, and must not be a straight line through a curve.
    Returns (chosen Fit, identity Fit).
    """
    identity = fit_identity(xa, xb)
    floor = 1e-9 * max(1.0, float(np.max(np.abs(xb))) if xb.size else 1.0)
    if identity.rms <= floor:
        return identity, identity
    n = xa.size
    # Below float32 rounding level every model is exact; ties then go to the simplest.
    noise = max(floor, FLOAT32_NOISE * float(np.max(np.abs(xb))))
    scored = []
    for make, params in ((fit_scale, 1), (fit_affine, 2)):
        fit = make(xa, xb)
        if fit is not None:
            scored.append((_bic(fit, n, params, noise), params, fit))
    fit = fit_channel_affine(xa, xb, ch, nch)
    if fit is not None:
        scored.append((_bic(fit, n, 2 * nch, noise), 2 * nch, fit))
    if not scored:
        return identity, identity
    chosen = min(scored, key=lambda t: (t[0], t[1]))[2]
    if chosen.rms > SUBSTANTIAL * identity.rms:
        return identity, identity
    if chosen.rms > floor and is_curved(chosen, xa, xb, ch, nch):
        return identity, identity  # a curve, not a linear map: claim neither scale nor normalisation
    return chosen, identity
