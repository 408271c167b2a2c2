"""Element-wise agreement metrics between two same-shape numeric arrays (pure numpy).

Everything is computed in float64 over fixed-size chunks, so the extra memory is a few chunk-sized
temporaries whatever the tensor size, and the temporaries stay in the CPU cache between passes.
NaN at the same position on both sides, and infinities of the same sign, count as equal; a
non-finite value on one side only is counted in ``nonfinite_mismatch`` and left out of the other
metrics, which therefore stay finite numbers.
"""
from __future__ import annotations

import math

import numpy as np

# 64k float64 elements = 512 KiB per temporary: large enough for BLAS and ufunc overhead to vanish,
# small enough to stay in L2/L3 while the same chunk is swept several times.
CHUNK_ELEMENTS = 1 << 16


class ArrayMetrics:
    """Metrics of one array pair; ``max_abs_index`` is a flat index into the compared arrays."""

    __slots__ = (
        "size",
        "max_abs_diff",
        "max_abs_index",
        "mean_abs_diff",
        "max_rel_diff",
        "cosine",
        "mse",
        "equal_ratio",
        "min_atol",
        "nonfinite_mismatch",
    )

    def __init__(self, **values):
        for key in self.__slots__:
            setattr(self, key, values.get(key))

    def __repr__(self):
        fields = ", ".join("%s=%r" % (k, getattr(self, k)) for k in self.__slots__)
        return "ArrayMetrics(%s)" % fields


class _Accumulator:
    """Running sums over chunks; one instance per array pair."""

    def __init__(self, rtol):
        self.rtol = float(rtol)
        self.max_abs = 0.0
        self.max_index = None
        self.sum_abs = 0.0
        self.sse = 0.0
        self.dot_xy = 0.0
        self.dot_xx = 0.0
        self.dot_yy = 0.0
        self.max_rel = 0.0
        self.min_atol = 0.0
        self.valid = 0
        self.equal = 0
        self.mismatch = 0

    def add_finite(self, x, y, index_of):
        """Fold in a chunk of finite float64 values; ``index_of(i)`` maps chunk to flat index."""
        n = x.size
        if n == 0:
            return
        self.valid += n
        self.dot_xx += float(np.dot(x, x))
        self.dot_yy += float(np.dot(y, y))
        self.dot_xy += float(np.dot(x, y))
        d = np.subtract(x, y)
        self.sse += float(np.dot(d, d))
        np.abs(d, out=d)
        i = int(np.argmax(d))
        m = float(d[i])
        nonzero = int(np.count_nonzero(d))
        self.equal += n - nonzero
        if m == 0.0:
            # Identical chunk: every other metric of it is zero.
            return
        self.sum_abs += float(d.sum())
        if m > self.max_abs or self.max_index is None:
            self.max_abs = m
            self.max_index = index_of(i)
        ax = np.abs(x)
        rel = np.zeros_like(d)
        np.divide(d, ax, out=rel, where=ax > 0)
        self.max_rel = max(self.max_rel, float(rel.max()))
        if self.rtol > 0:
            np.multiply(ax, self.rtol, out=ax)
            np.subtract(d, ax, out=d)
            self.min_atol = max(self.min_atol, float(d.max()))
        else:
            self.min_atol = max(self.min_atol, m)

    def add_chunk(self, x, y, base):
        """Fold in one chunk, routing non-finite values away from the finite metrics."""
        # One cheap probe: a NaN or Inf anywhere makes the sum non-finite.
        if math.isfinite(float(x.sum()) + float(y.sum())):
            self.add_finite(x, y, lambda i: base + i)
            return
        finite = np.isfinite(x) & np.isfinite(y)
        bad = ~finite
        xb, yb = x[bad], y[bad]
        same = (xb == yb) | (np.isnan(xb) & np.isnan(yb))
        self.equal += int(np.count_nonzero(same))
        self.mismatch += int(same.size - np.count_nonzero(same))
        positions = np.flatnonzero(finite)
        self.add_finite(x[finite], y[finite], lambda i: base + int(positions[i]))

    def result(self, size):
        """Turn the sums into an ArrayMetrics."""
        if self.dot_xx == 0.0 and self.dot_yy == 0.0:
            cosine = 1.0  # both all-zero: identical direction by convention
        elif self.dot_xx == 0.0 or self.dot_yy == 0.0:
            cosine = 0.0
        else:
            cosine = self.dot_xy / math.sqrt(self.dot_xx * self.dot_yy)
            cosine = max(-1.0, min(1.0, cosine))
        return ArrayMetrics(
            size=size,
            max_abs_diff=self.max_abs,
            max_abs_index=self.max_index if self.max_index is not None else (0 if size else None),
            mean_abs_diff=self.sum_abs / self.valid if self.valid else 0.0,
            max_rel_diff=self.max_rel,
            cosine=cosine,
            mse=self.sse / self.valid if self.valid else 0.0,
            equal_ratio=self.equal / size if size else 1.0,
            min_atol=max(0.0, self.min_atol),
            nonfinite_mismatch=self.mismatch,
        )


def array_metrics(a, b, rtol=0.0, chunk=CHUNK_ELEMENTS):
    """Compare two same-shape numeric arrays element by element.

    Args:
        a: reference array (run A); relative differences are taken against ``|a|``.
        b: array under test (run B), same shape as ``a``; any numeric dtype.
        rtol: relative tolerance used for ``min_atol``, the smallest atol with
            ``|a - b| <= atol + rtol * |a|`` everywhere.
        chunk: elements per pass (tests use small values to exercise chunk boundaries).

    Returns:
        ArrayMetrics. ``max_rel_diff`` is over elements where ``a != 0``; ``cosine`` is 1.0 when
        both arrays are all zero.

    Raises:
        ValueError: the shapes differ.
    """
    a = np.asarray(a)
    b = np.asarray(b)
    if a.shape != b.shape:
        raise ValueError("array_metrics needs equal shapes, got %s and %s" % (a.shape, b.shape))
    fa = a.reshape(-1)
    fb = b.reshape(-1)
    acc = _Accumulator(rtol)
    size = fa.size
    # Inf - Inf and overflowing sums are expected in the probe; they route chunks to the slow path.
    with np.errstate(invalid="ignore", over="ignore"):
        for start in range(0, size, chunk):
            x = fa[start:start + chunk].astype(np.float64, copy=False)
            y = fb[start:start + chunk].astype(np.float64, copy=False)
            acc.add_chunk(x, y, start)
    return acc.result(size)


def psnr(mse, peak):
    """Peak signal-to-noise ratio in dB; None when the arrays are identical (infinite PSNR)."""
    if mse is None or peak is None:
        return None
    if mse <= 0.0:
        return None
    return 10.0 * math.log10(float(peak) ** 2 / mse)


def image_peak(a, b):
    """Peak value for PSNR: 255 for 8-bit data, 1.0 for float images already in [0, 1]."""
    if a.dtype == np.uint8 or b.dtype == np.uint8:
        return 255.0
    if a.size == 0:
        return 1.0
    hi = max(float(np.nanmax(np.abs(a))) if np.isfinite(a).any() else 0.0,
             float(np.nanmax(np.abs(b))) if np.isfinite(b).any() else 0.0)
    return 1.0 if hi <= 1.0 else 255.0
