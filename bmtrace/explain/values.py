"""Value fits between aligned samples of A and B: identity, k*A, k*A+c, and per-channel a_c*A+b_c."""
from __future__ import annotations

import numpy as np

# Scale factors that real pipelines use; a fitted k this close to one of them is snapped to it.
NICE_SCALES = (255.0, 1 / 255.0, 256.0, 1 / 256.0, 127.5, 1 / 127.5, 128.0, 1 / 128.0,
               65535.0, 1 / 65535.0, 2.0, 0.5, -1.0)
SNAP_TOLERANCE = 2e-3
# A richer model is kept only when it removes at least half of the remaining rms error.
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
    denom = float(np.dot(xa, xa))
    if denom <= 0:
        return None
    k = _snap(float(np.dot(xa, xb)) / denom)
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


def best_fit(xa, xb, ch=None, nch=0):
    """The simplest value model that explains B from A.

    Models are tried from simple to rich; a richer one replaces the current choice only when it
    removes at least half of the remaining rms error, so noise never buys a fancier explanation.
    Returns (chosen Fit, identity Fit).
    """
    identity = fit_identity(xa, xb)
    chosen = identity
    floor = 1e-9 * max(1.0, float(np.max(np.abs(xb))) if xb.size else 1.0)
    for make in (fit_scale, fit_affine):
        if chosen.rms <= floor:
            break
        fit = make(xa, xb)
        if fit is not None and fit.rms <= SUBSTANTIAL * chosen.rms:
            chosen = fit
    if chosen.rms > floor:
        fit = fit_channel_affine(xa, xb, ch, nch)
        if fit is not None and fit.rms <= SUBSTANTIAL * chosen.rms:
            chosen = fit
    return chosen, identity
