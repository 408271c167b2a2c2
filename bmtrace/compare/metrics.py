"""Element-wise agreement metrics between two same-shape numeric arrays (pure numpy).

The arrays are swept in fixed-size chunks, so the extra memory is a few chunk-sized buffers
whatever the tensor size, and each chunk stays in the CPU cache across the passes over it.
Element arithmetic runs in float32 when both sides have the same dtype that float32 holds exactly
(8/16-bit integers, float16/32), else in float64; chunk sums are accumulated in Python floats.
NaN at the same position on both sides, and infinities of the same sign, count as equal; a
non-finite value on one side only is counted in ``nonfinite_mismatch`` and left out of the other
metrics, which therefore stay finite numbers.

Where the optional C extension ``_fused`` is built, pairs of one dtype (8/16-bit integers, bool,
float32, float64) are swept in one pass over each element instead (``_fused_metrics``): the same
element arithmetic, so the same maxima, index, counts and relative figures, with the five sums
accumulated in double rather than in float32. On ordinary tensors the two agree to float32 rounding;
where float32 products underflow, overflow or cancel, the double sums stay right and the float32 ones
do not.
"""
from __future__ import annotations

import math
import os
import threading

import numpy as np

try:
    from ._fused import sweep as _fused_sweep
except ImportError:  # not built (no C compiler at install): the numpy sweep does the same work
    _fused_sweep = None

# 64k elements: large enough for per-call ufunc overhead to vanish, small enough that the chunk
# and its buffers stay in L2 while they are swept ~10 times.
CHUNK_ELEMENTS = 1 << 16
# From 512k elements a pair is split over two threads (a 640x480x3 image: 25% faster with a core
# free, no slower on a busy machine); below, the hand-off costs more than it saves.
PARALLEL_ELEMENTS = 1 << 19
# Up to this many elements (a stats-mode sketch that holds a whole tensor: at most 1,024) a pair is one
# chunk in fresh temporaries, without the accumulator, whose bookkeeping costs more than the arithmetic.
SMALL_ELEMENTS = 1 << 10

# Dot products are sums of elementwise products, never np.dot/np.vdot: those go through
# multi-threaded OpenBLAS, whose spinning threads slowed a diff tenfold on a busy 2-core machine.
_FLOAT32_EXACT = frozenset(np.dtype(name) for name in (
    "bool", "int8", "uint8", "int16", "uint16", "float16", "float32"))


def work_dtype(a_dtype, b_dtype):
    """float32 for two equal dtypes that convert to it exactly, else float64.

    Mixed pairs (uint8 against float32, float16 against float32) always use float64, so that a
    representation change is measured with nothing rounded on the way.
    """
    a_dtype, b_dtype = np.dtype(a_dtype), np.dtype(b_dtype)
    if a_dtype == b_dtype and a_dtype in _FLOAT32_EXACT:
        return np.float32
    return np.float64


class ArrayMetrics:
    """Metrics of one array pair; ``max_abs_index`` is a flat index into the compared arrays."""

    __slots__ = (
        "size",
        "max_abs_diff",
        "max_abs_index",
        "mean_abs_diff",
        "max_rel_diff",
        "cosine",
        "euclidean_similarity",
        "mse",
        "equal_ratio",
        "min_atol",
        "nonfinite_mismatch",
    )

    def __init__(self, size=None, max_abs_diff=None, max_abs_index=None, mean_abs_diff=None, max_rel_diff=None,
                 cosine=None, euclidean_similarity=None, mse=None, equal_ratio=None, min_atol=None,
                 nonfinite_mismatch=None):
        self.size, self.max_abs_diff, self.max_abs_index = size, max_abs_diff, max_abs_index
        self.mean_abs_diff, self.max_rel_diff, self.cosine = mean_abs_diff, max_rel_diff, cosine
        self.euclidean_similarity, self.mse, self.equal_ratio = euclidean_similarity, mse, equal_ratio
        self.min_atol, self.nonfinite_mismatch = min_atol, nonfinite_mismatch

    def __repr__(self):
        fields = ", ".join("%s=%r" % (k, getattr(self, k)) for k in self.__slots__)
        return "ArrayMetrics(%s)" % fields


class _Accumulator:
    """Running sums over chunks; one instance per array pair."""

    def __init__(self, rtol, dtype, chunk):
        self.rtol = float(rtol)
        self.max_abs = 0.0
        self.max_index = None
        # (x.x, y.y, x.y, sum of squared diffs, sum of abs diffs) per chunk, in chunk order: folded
        # in that order at the end, so splitting the chunks over threads changes no bit of a result.
        self.sums = []
        self.max_rel = 0.0
        self.min_atol = 0.0
        self.valid = 0
        self.equal = 0
        self.mismatch = 0
        # Reused buffers: no allocation per chunk, nor per pair on this thread.
        self.d = _scratch("d", dtype, chunk)
        self.t = _scratch("t", dtype, chunk)

    def add_finite(self, x, y, index_of, d=None, top=None):
        """Fold in finite values ``x``, ``y``; ``d`` may hold ``|x - y|`` and ``top`` its argmax."""
        n = x.size
        if n == 0:
            return
        if d is None:
            d = np.subtract(x, y, out=self.d[:n])
            np.abs(d, out=d)
        self.valid += n
        i = int(d.argmax()) if top is None else top
        m, sums, equal, max_rel, min_atol = _finite_figures(x, y, d, i, self.t[:n], self.rtol)
        self.sums.append(sums)
        self.equal += equal
        if m == 0.0:
            return
        if m > self.max_abs or self.max_index is None:
            self.max_abs = m
            self.max_index = index_of(i)
        self.max_rel = max(self.max_rel, max_rel)
        self.min_atol = max(self.min_atol, min_atol)

    def add_chunk(self, x, y, base):
        """Fold in one chunk, routing non-finite values away from the finite metrics."""
        n = x.size
        if n == 0:
            return
        d = np.subtract(x, y, out=self.d[:n])
        np.abs(d, out=d)
        # argmax stops at the first NaN and Inf is the maximum: one look at the top element
        # tells whether any value on either side is non-finite.
        top = int(d.argmax())
        if math.isfinite(float(d[top])):
            self.add_finite(x, y, lambda i: base + i, d, top)
            return
        finite = np.isfinite(x) & np.isfinite(y)
        bad = ~finite
        xb, yb = x[bad], y[bad]
        same = (xb == yb) | (np.isnan(xb) & np.isnan(yb))
        self.equal += int(np.count_nonzero(same))
        self.mismatch += int(same.size - np.count_nonzero(same))
        positions = np.flatnonzero(finite)
        self.add_finite(x[finite], y[finite], lambda i: base + int(positions[i]))

    def merge(self, later):
        """Fold in the accumulator of the chunks that follow this one's."""
        if later.max_index is not None and (later.max_abs > self.max_abs or self.max_index is None):
            self.max_abs, self.max_index = later.max_abs, later.max_index
        self.sums.extend(later.sums)
        self.max_rel = max(self.max_rel, later.max_rel)
        self.min_atol = max(self.min_atol, later.min_atol)
        self.valid += later.valid
        self.equal += later.equal
        self.mismatch += later.mismatch

    def result(self, size):
        """Turn the sums into an ArrayMetrics."""
        return _metrics(size, self.sums, self.max_abs, self.max_index, self.max_rel, self.min_atol, self.valid,
                        self.equal, self.mismatch)


def _finite_figures(x, y, d, i, t, rtol):
    """The figures of finite ``x``, ``y`` with ``d = |x - y|`` and ``i`` its argmax, using the buffer ``t``:
    (max |x - y|, (x.x, y.y, x.y, sum of squared diffs, sum of abs diffs), equal elements, max relative
    diff, min atol for ``rtol``)."""
    n = x.size
    m = float(d[i])
    xx = _dot(x, x, t)
    if m == 0.0:
        # Identical values: x.y = y.y = x.x and every difference figure is zero.
        return m, (xx, xx, xx, 0.0, 0.0), n, 0.0, 0.0
    sums = (xx, _dot(y, y, t), _dot(x, y, t), _dot(d, d, t), float(_sum(d)))
    equal = n - int(np.count_nonzero(d))  # d = |x - y| holds no NaN
    max_rel, min_atol = _relative_figures(x, d, m, t, rtol)
    return m, sums, equal, max_rel, min_atol


def _relative_figures(x, d, m, t, rtol):
    """(max relative diff, min atol for ``rtol``) of finite ``x`` with ``d = |x - y|`` and ``m = max d``,
    using the buffer ``t``."""
    max_rel = _max_relative(d, x, t)
    if rtol > 0:
        np.abs(x, out=t)
        np.multiply(t, rtol, out=t)
        np.subtract(d, t, out=t)
        return max_rel, float(_max(t))
    return max_rel, m


def _metrics(size, sums, max_abs, max_index, max_rel, min_atol, valid, equal, mismatch):
    """The ArrayMetrics of a pair from its per-chunk sums (folded in chunk order) and running figures."""
    dot_xx = dot_yy = dot_xy = sse = sum_abs = 0.0
    for xx, yy, xy, chunk_sse, chunk_abs in sums:
        dot_xx += xx
        dot_yy += yy
        dot_xy += xy
        sse += chunk_sse
        sum_abs += chunk_abs
    cosine = cosine_from_sums(dot_xx, dot_yy, dot_xy)
    # tpu-mlir's npz_tool "euclidean similarity": 1 - |a - b| / |(a + b) / 2|.
    half_sum = math.sqrt(max(dot_xx + dot_yy + 2.0 * dot_xy, 0.0)) / 2.0
    if half_sum > 0.0:
        euclidean = 1.0 - math.sqrt(sse) / half_sum
    else:
        euclidean = 1.0 if sse == 0.0 else 0.0
    return ArrayMetrics(
        size=size,
        euclidean_similarity=euclidean,
        max_abs_diff=max_abs,
        max_abs_index=max_index if max_index is not None else (0 if size else None),
        mean_abs_diff=sum_abs / valid if valid else 0.0,
        max_rel_diff=max_rel,
        cosine=cosine,
        mse=sse / valid if valid else 0.0,
        equal_ratio=equal / size if size else 1.0,
        min_atol=max(0.0, min_atol),
        nonfinite_mismatch=mismatch,
    )


def cosine_from_sums(xx, yy, xy):
    """The cosine of two arrays from x.x, y.y and x.y; None when an overflowed sum leaves no answer."""
    if xx == 0.0 and yy == 0.0:
        return 1.0  # both all-zero: identical direction by convention
    if xx == 0.0 or yy == 0.0:
        return 0.0
    cosine = xy / (math.sqrt(xx) * math.sqrt(yy))  # (xx * yy can underflow to 0)
    # NaN: a sum overflowed (float32 sums past 1e19, float64 past 1e154); min() would make it 1.0
    return max(-1.0, min(1.0, cosine)) if cosine == cosine else None


def _max_relative(d, x, q):
    """max(d / |x|) over x != 0, using the buffer ``q``.

    |d| / |x| is |d / x| bit for bit, so one division and an abs in place replace taking |x| first.
    (The sign of a zero result may differ from other ways of taking it; callers fold it with max(0.0, ..).)
    """
    np.divide(d, x, out=q)
    np.abs(q, out=q)
    # fmax skips the NaN of 0/0; an Inf means a zero reference with a non-zero difference, which is
    # excluded by definition: only then take the slower masked route.
    top = float(_fmax(q))
    if math.isfinite(top):
        return top
    finite = q[np.isfinite(q)]
    return float(finite.max()) if finite.size else 0.0


def array_metrics(a, b, rtol=0.0, chunk=CHUNK_ELEMENTS, threads=2):
    """Compare two same-shape numeric arrays element by element.

    Args:
        a: reference array (run A); relative differences are taken against ``|a|``.
        b: array under test (run B), same shape as ``a``; any real numeric dtype.
        rtol: relative tolerance used for ``min_atol``, the smallest atol with
            ``|a - b| <= atol + rtol * |a|`` everywhere.
        chunk: elements per pass (tests use small values to exercise chunk boundaries).
        threads: 2 splits pairs of ``PARALLEL_ELEMENTS`` or more over two threads; the results
            are bit-identical to one thread's.

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
    fa = _flat(a, "a")
    fb = _flat(b, "b")
    size = fa.size
    code = _FUSED_CODES.get(fa.dtype) if _fused_sweep is not None and fa.dtype == fb.dtype else None
    if code is not None and size and chunk <= _FUSED_MAX_CHUNK and fa.flags.aligned and fb.flags.aligned:
        fused = _fused_metrics(fa, fb, code, size, rtol, chunk, threads)
        if fused is not None:
            return fused
    dtype = work_dtype(a.dtype, b.dtype)
    if 0 < size <= min(SMALL_ELEMENTS, chunk):
        small = _small_pair(fa, fb, rtol, dtype)
        if small is not None:
            return small
    chunks = -(-size // chunk) if size else 0
    if size >= PARALLEL_ELEMENTS and chunks >= 2 and threads > 1:
        # Two halves (on chunk boundaries) on two cores; the ufuncs release the GIL.
        middle = (chunks // 2) * chunk
        future = _pool().submit(_sweep, fa, fb, middle, size, rtol, dtype, chunk)
        acc = _sweep(fa, fb, 0, middle, rtol, dtype, chunk)
        acc.merge(future.result())
    else:
        acc = _sweep(fa, fb, 0, size, rtol, dtype, chunk)
    return acc.result(size)


class Measured:
    """``array_metrics(a, b, rtol, chunk)`` computed ahead (the diff measures large pairs on its loader
    threads as it reads them), for ``compare_arrays`` to use when it compares these very arrays at the
    same rtol and chunk."""

    __slots__ = ("a", "b", "rtol", "chunk", "metrics")

    def __init__(self, a, b, rtol, chunk=CHUNK_ELEMENTS):
        self.a, self.b, self.rtol, self.chunk = a, b, rtol, chunk
        # one thread: the loader threads already keep both cores busy (the split gives the same bits)
        self.metrics = array_metrics(a, b, rtol=rtol, chunk=chunk, threads=1)

    def fits(self, a, b, rtol, chunk):
        return a is self.a and b is self.b and rtol == self.rtol and chunk == self.chunk


# Element codes of the C sweep, for native-order dtypes only (a ">f4" equals none of these keys).
_FUSED_CODES = {np.dtype(name): code for name, code in (
    ("float32", "f"), ("float64", "d"), ("uint8", "B"), ("bool", "?"), ("int8", "b"), ("uint16", "H"),
    ("int16", "h"))}


# The C sweep takes chunks up to 2^30 elements; 8/16-bit pairs convert a chunk at a time into two float
# buffers, so a caller's huge chunk would allocate that much: past 2^24 the numpy sweep takes the pair.
_FUSED_MAX_CHUNK = 1 << 24


def _fused_metrics(fa, fb, code, size, rtol, chunk, threads):
    """``array_metrics`` of two flat same-dtype arrays by the C sweep; None when a value is NaN or Inf
    (the numpy sweep sets those apart). Splits like the numpy sweep, and the per-chunk sums are folded
    in chunk order, so two threads give one thread's result bit for bit."""
    rtol = float(rtol)
    chunks = -(-size // chunk)
    sums = np.empty((chunks, 5))
    if size >= PARALLEL_ELEMENTS and chunks >= 2 and threads > 1:
        half = chunks // 2
        later = _pool().submit(_fused_sweep, fa, fb, code, half * chunk, size, chunk, rtol, sums[half:])
        first = _fused_sweep(fa, fb, code, 0, half * chunk, chunk, rtol, sums[:half])
        second = later.result()
        if first is None or second is None:
            return None
        max_abs, max_index, equal, max_rel, min_atol = first
        if second[1] >= 0 and (second[0] > max_abs or max_index < 0):
            max_abs, max_index = second[0], second[1]
        equal += second[2]
        max_rel, min_atol = max(max_rel, second[3]), max(min_atol, second[4])
    else:
        figures = _fused_sweep(fa, fb, code, 0, size, chunk, rtol, sums)
        if figures is None:
            return None
        max_abs, max_index, equal, max_rel, min_atol = figures
    return _metrics(size, sums.tolist(), max_abs, max_index if max_index >= 0 else None, max_rel,
                    min_atol if rtol > 0 else max_abs, size, equal, 0)


def _small_pair(fa, fb, rtol, dtype):
    """``array_metrics`` of a small pair of finite values, bit for bit what ``_sweep`` computes for one
    chunk; None when a value is NaN or Inf (the chunk route sets those apart).

    The same operations as ``_finite_figures``, but the five sums are the rows of one reduction: a numpy
    reduction costs microseconds however short, and a row's pairwise sum is the sum of that row alone.
    """
    x = fa if fa.dtype == dtype else fa.astype(dtype)
    y = fb if fb.dtype == dtype else fb.astype(dtype)
    n = x.size
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        d = np.subtract(x, y)
        np.abs(d, out=d)
        i = int(d.argmax())
        m = float(d[i])
        if not math.isfinite(m):
            return None
        if m == 0.0:
            xx = float(_sum(np.multiply(x, x)))
            return _metrics(n, ((xx, xx, xx, 0.0, 0.0),), m, None, 0.0, 0.0, n, n, 0)
        rows = np.empty((5, n), x.dtype)
        np.multiply(x, x, out=rows[0])
        np.multiply(y, y, out=rows[1])
        np.multiply(x, y, out=rows[2])
        np.multiply(d, d, out=rows[3])
        rows[4] = d
        sums = tuple(_sum(rows, axis=1).tolist())
        equal = n - int(np.count_nonzero(d))  # d = |x - y| holds no NaN
        max_rel, min_atol = _relative_figures(x, d, m, rows[0], float(rtol))
    # max(0.0, ...) as the accumulator folds a chunk's figures into its starting zeros
    return _metrics(n, (sums,), m, i, max(0.0, max_rel), max(0.0, min_atol), n, equal, 0)


def _dot(x, y, t):
    # multiply, then numpy's pairwise sum: about half of the pass, but einsum (one pass, no temporary)
    # accumulates float32 in SIMD lanes and moved cosines by 1e-5 relative on real tensors.
    return float(_sum(np.multiply(x, y, out=t)))


# ``x.sum()`` and ``x.max()`` are these reductions behind two Python-level calls, which cost more than
# the reduction of a small chunk; same loops, same results.
_sum = np.add.reduce
_max = np.maximum.reduce
_fmax = np.fmax.reduce


def _sweep(fa, fb, begin, end, rtol, dtype, chunk):
    """Accumulate chunks ``[begin, end)`` of two flat arrays (``begin`` on a chunk boundary)."""
    size = min(chunk, max(end - begin, 1))
    acc = _Accumulator(rtol, dtype, size)
    # Converted chunks go to buffers of this thread too (astype would allocate every chunk).
    xs = _scratch("x", dtype, size) if fa.dtype != dtype else None
    ys = _scratch("y", dtype, size) if fb.dtype != dtype else None
    # Inf - Inf, 0/0 and overflows are expected: they route chunks to the masked slow path.
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        for start in range(begin, end, chunk):
            x = fa[start:start + chunk]
            y = fb[start:start + chunk]
            if xs is not None:
                x = xs[:x.size]
                np.copyto(x, fa[start:start + chunk])
            if ys is not None:
                y = ys[:y.size]
                np.copyto(y, fb[start:start + chunk])
            acc.add_chunk(x, y, start)
    return acc


# Work buffers up to this many elements are kept per thread (flattened non-C-contiguous arrays up to
# 1M elements: at most two per dtype, 8 MB for float32, held for the life of the thread).
FLAT_SCRATCH_ELEMENTS = 1 << 20
_local = threading.local()


def _scratch(name, dtype, n):
    """A work array of ``n`` elements kept for this thread: fresh memory costs a page fault per 4 KiB
    on first write, more than the arithmetic on a small pair. Each name is used once per thread at a
    time (the accumulator's buffers, the two converted chunks, the two flattened arrays)."""
    cache = getattr(_local, "buffers", None)
    if cache is None:
        cache = _local.buffers = {}
    key = (name, dtype)  # a dtype or a scalar type, as each caller always passes it
    buffer = cache.get(key)
    if buffer is None or buffer.size < n:
        buffer = np.empty(max(n, 1), dtype)
        if n <= FLAT_SCRATCH_ELEMENTS:
            cache[key] = buffer
    return buffer[:n]


def _flat(x, name):
    """``x.reshape(-1)``: a view when ``x`` is C-contiguous, else a C-order copy into a reused buffer."""
    if x.flags.c_contiguous or x.size > FLAT_SCRATCH_ELEMENTS:
        return x.reshape(-1)
    flat = _scratch("flat_" + name, x.dtype, x.size)
    np.copyto(flat.reshape(x.shape), x)
    return flat


_executor = None
_executor_lock = threading.Lock()


def _forget_pool():
    """In a forked child: the parent's pool has no thread there, and work submitted to it would wait
    forever (a diff forks children, bmtrace.diff.workers; so may the user's program)."""
    global _executor, _executor_lock
    _executor, _executor_lock = None, threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_pool)


def _pool():
    global _executor
    with _executor_lock:
        if _executor is None:
            from concurrent.futures import ThreadPoolExecutor

            _executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="bmtrace-metrics")
        return _executor


def psnr(mse, peak):
    """Peak signal-to-noise ratio in dB; None when the arrays are identical (infinite PSNR)."""
    if mse is None or peak is None:
        return None
    if mse <= 0.0:
        return None
    return 10.0 * math.log10(float(peak) ** 2 / mse)


def image_peak(a, b):
    """Peak value for PSNR: 255 for 8-bit data, 1.0 for float images already in [-1, 1]."""
    if a.dtype == np.uint8 or b.dtype == np.uint8:
        return 255.0
    hi = 0.0
    for arr in (a, b):
        if arr.size:
            flat = arr.reshape(-1)
            # fmax/fmin skip NaN and need no temporary array
            for value in (np.fmax.reduce(flat), np.fmin.reduce(flat)):
                if value == value:
                    hi = max(hi, abs(float(value)))
    return 1.0 if hi <= 1.0 else 255.0
