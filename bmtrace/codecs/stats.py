"""Per-tensor statistics and content hash.

Statistics are computed as mergeable partials (count, min, max, mean, sum of squared deviations), so
the writer can split a large array across threads and combine the halves exactly.
"""
from __future__ import annotations

import numpy as np

from ..store import hashing

# The statistics of every recorded array, in the journal entry and the index.
STATS_KEYS = ("min", "max", "mean", "std", "nan_count", "inf_count")

# Up to this many elements an array is described in one piece (a float64 copy is 32 KB).
_SMALL = 4096

# Rows are processed in chunks so the float64 copy stays in cache.
_CHUNK = 1 << 18


# The content hash (store/hashing.py: xxh3-128, or SHA-1 without xxhash) is over "dtype|shape|" and the
# digests of the data's 1 MiB blocks, so the blocks of one large array can be hashed on several threads.
HASH_BLOCK_BYTES = hashing.BLOCK_BYTES


def content_hash(arr):
    """Hash of dtype, shape and bytes: equal hashes mean bit-identical tensors."""
    return describe_array(arr, want_stats=False)[0]


def array_stats(arr):
    """min/max/mean/std over finite values, and NaN/Inf counts; None where not numeric or empty."""
    return describe_array(arr, want_hash=False)[1]


def describe_array(arr, pool=None, parts=1, want_hash=True, want_stats=True, sampled=False):
    """``(content hash, statistics)`` of ``arr`` in one pass over its 1 MiB blocks.

    With a ``pool`` (concurrent.futures executor) and ``parts`` > 1, contiguous runs of blocks are
    scanned on pool threads and this one: hashing and the numeric work both release the GIL, and
    each block is hashed and summed while it is in cache.

    ``sampled`` (stats mode): min, max and the NaN/Inf counts stay exact, but the mean and std of an
    array of more than ``SAMPLED_ELEMENTS`` elements are taken over that many, in evenly spaced
    blocks at positions that depend only on the size, and ``stats["stats_sample"]`` says so.
    Summing every element costs about 1 ms per MB, as much as writing it: full mode pays that,
    stats mode must not. Two arrays of one size are sampled at the same positions, so differences
    of sampled means and stds are still lower bounds of the max abs diff. A large real-valued array is
    then read once, as it is, contiguous or not (``_sampled_scan``), with the same results as its
    C-order copy.
    """
    if sampled and want_stats and scanned_in_place(arr):
        digest, stats = _sampled_scan(arr, want_hash)
        if stats is None:  # NaN or Inf: counting them needs every element, the exact path does that
            stats = describe_array(arr, pool, parts, want_hash=False)[1]
        return digest, stats
    data = np.ascontiguousarray(arr)
    if sampled and want_stats and data.size > SAMPLED_ELEMENTS:  # complex: statistics of the magnitudes
        flat = _numeric_flat(data)
        stats = _sampled_stats(flat) if flat is not None else None
        if stats is not None:
            return (hashing.content_hash(data) if want_hash else None), stats
    if data.size <= _SMALL:  # one block: no splitting and merging (most records of small tensors)
        digest = hashing.content_hash(data) if want_hash else None
        flat = _numeric_flat(data) if want_stats else None
        return digest, _small_stats(flat)
    itemsize = max(data.dtype.itemsize, 1)
    flat = _numeric_flat(data) if want_stats else None
    raw = data.reshape(-1).view(np.uint8) if data.size else np.zeros(0, np.uint8)
    block_items = max(HASH_BLOCK_BYTES // itemsize, 1)
    blocks = max(-(-data.size // block_items), 1)
    parts = max(1, min(parts, blocks))
    edges = [blocks * i // parts for i in range(parts + 1)]

    def scan(first, last):
        digests, partials = [], []
        for block in range(first, last):
            lo, hi = block * block_items, min((block + 1) * block_items, data.size)
            if want_hash:
                digests.append(hashing.block_digest(raw[lo * itemsize:hi * itemsize]))
            if flat is not None and hi > lo:
                partials.append(_partial(flat[lo:hi]))
        return digests, partials

    if pool is not None and parts > 1:
        futures = [pool.submit(scan, edges[i], edges[i + 1]) for i in range(1, parts)]
        results = [scan(edges[0], edges[1])] + [f.result() for f in futures]
    else:
        results = [scan(edges[0], edges[-1])]
    digest = None
    if want_hash:
        digest = hashing.finish(data.dtype.str, data.shape, [d for block_digests, _ in results for d in block_digests])
    return digest, _finish([p for _, partials in results for p in partials])


def _numeric_flat(arr):
    kind = arr.dtype.kind
    if kind not in "biufc":
        return None
    flat = arr.reshape(-1)
    if kind == "b":
        return flat.view(np.uint8)
    if kind == "c":
        return np.abs(flat)
    return flat


def _finish(partials):
    stats = dict.fromkeys(STATS_KEYS)
    stats["nan_count"] = stats["inf_count"] = 0
    if not partials:
        return stats
    total = partials[0] if len(partials) == 1 else _merge(partials)
    stats["nan_count"], stats["inf_count"] = total["nan"], total["inf"]
    if total["n"]:
        stats["min"], stats["max"] = _py(total["min"]), _py(total["max"])
        stats["mean"] = total["mean"]
        stats["std"] = (max(total["m2"], 0.0) / total["n"]) ** 0.5
    return stats


# Stats mode: mean/std from 64 blocks of 1,024 elements (one 4 KB page of float32 each).
SAMPLED_ELEMENTS = 1 << 16
_SAMPLED_BLOCK = 1 << 10


def sampled_positions(size):
    """Start offsets of the blocks whose elements give a stats-mode mean/std (size > SAMPLED_ELEMENTS)."""
    blocks = SAMPLED_ELEMENTS // _SAMPLED_BLOCK
    return [(size - _SAMPLED_BLOCK) * b // (blocks - 1) for b in range(blocks)]


def _sampled_stats(flat):
    """Stats-mode statistics: exact min/max and no NaN/Inf, sampled mean/std; None when the array
    holds NaN or Inf (counting them needs every element: the exact path does that)."""
    extremes = _finite_extremes(flat)
    if extremes is None:
        return None
    sample = np.concatenate([flat[start:start + _SAMPLED_BLOCK] for start in sampled_positions(flat.size)])
    return _with_sample(sample, *extremes)


def _with_sample(sample, low, high):
    stats = _finish([_partial(sample)])
    stats["min"], stats["max"] = _py(low), _py(high)
    stats["stats_sample"] = int(sample.size)
    return stats


def scanned_in_place(arr):
    """Whether stats mode describes ``arr`` in one pass over it as it is (``_sampled_scan``): a large
    real-valued array, contiguous or not; the writer then neither copies nor hashes it first."""
    return arr.size > SAMPLED_ELEMENTS and arr.dtype.kind in "biuf"


def _sampled_scan(arr, want_hash):
    """``(content hash, stats-mode statistics)`` of a large array in one pass (``hashing.scan``): each
    cache-sized piece is hashed and reduced to its min and max; a piece of a non-contiguous array,
    copied for the hash, also gives up the sampled elements it holds. The statistics are those of
    ``_sampled_stats``; None when the array holds NaN or Inf."""
    arr = np.asarray(arr)  # a subclass (np.matrix) reshapes and slices its own way
    as_bytes = arr.dtype.kind == "b"
    contiguous = arr.flags.c_contiguous
    lows, highs = [], []
    if not contiguous:
        wanted = _sample_plan(arr.size)
        gathered = np.empty(wanted.size, np.uint8 if as_bytes else arr.dtype)

    def visit(start, piece):
        if as_bytes:
            piece = piece.view(np.uint8)
        lows.append(np.minimum.reduce(piece))
        highs.append(np.maximum.reduce(piece))
        if not contiguous:
            first, last = wanted.searchsorted((start, start + piece.size))
            if first < last:  # mode="clip": the indices are in range, and "raise" buffers the output
                piece.take(wanted[first:last] - start, out=gathered[first:last], mode="clip")

    digest = hashing.scan(arr, visit, want_hash)
    low, high = np.minimum.reduce(np.array(lows)), np.maximum.reduce(np.array(highs))
    if arr.dtype.kind == "f":
        if not (np.isfinite(low) and np.isfinite(high)):
            return digest, None
        if low == 0 or high == 0:
            # Which zero (0.0 or -0.0) a min or max returns depends on the order numpy compares in:
            # only the whole-array reduction of the C-order data is sure to pick today's.
            flat = np.ascontiguousarray(arr).reshape(-1)
            low, high = (flat.min() if low == 0 else low), (flat.max() if high == 0 else high)
    if contiguous:
        flat = _numeric_flat(arr)
        sample = np.concatenate([flat[start:start + _SAMPLED_BLOCK] for start in sampled_positions(flat.size)])
    else:
        sample = gathered
    return digest, _with_sample(sample, low, high)


_sample_indices = {}  # size -> flat positions of the sample's elements, ascending


def _sample_plan(size):
    """The flat C-order positions of the stats-mode sample of ``size`` elements, ascending (its blocks
    never overlap: they are at least 1,024 apart once size > SAMPLED_ELEMENTS), so a piece of a scan
    takes its share with one ``take``."""
    wanted = _sample_indices.get(size)
    if wanted is None:
        wanted = np.concatenate([np.arange(start, start + _SAMPLED_BLOCK) for start in sampled_positions(size)])
        if len(_sample_indices) >= 64:
            _sample_indices.clear()
        _sample_indices[size] = wanted
    return wanted


def _finite_extremes(flat):
    """``(min, max)`` of ``flat``, or None when it holds NaN or Inf: NaN propagates into min and max,
    and an Inf is one of them, so no finite mask is needed to tell."""
    low, high = flat.min(), flat.max()
    if flat.dtype.kind == "f" and not (np.isfinite(low) and np.isfinite(high)):
        return None
    return low, high


def _small_stats(flat):
    """``_finish([_partial(flat)])`` of a small piece (or None) in fewer steps: most records are small,
    a float64 copy costs nothing here, and the statistics are built without an intermediate partial."""
    if flat is None or not flat.size:
        return _finish([])
    if flat.size == 1:
        value = flat[0]
        if flat.dtype.kind == "f" and not np.isfinite(value):
            nan = int(value != value)
            return {"min": None, "max": None, "mean": None, "std": None, "nan_count": nan, "inf_count": 1 - nan}
        item = value.item()
        return {"min": item, "max": item, "mean": float(value), "std": 0.0, "nan_count": 0, "inf_count": 0}
    low, high = flat.min(), flat.max()
    bound = max(abs(float(low)), abs(float(high)))
    if not bound < _NO_OVERFLOW:  # NaN, Inf, or squares that could overflow: the guarded path
        return _finish([_partial(flat)])
    wide = flat.astype(np.float64)
    mean = float(wide.sum()) / flat.size
    wide -= mean
    std = (max(_square_sum(wide), 0.0) / flat.size) ** 0.5
    return {"min": low.item(), "max": high.item(), "mean": mean, "std": std, "nan_count": 0, "inf_count": 0}


# Below this magnitude, sums and squares of up to _SMALL float64 values cannot overflow, so the small
# path skips np.errstate (a context manager costs more than the arithmetic here).
_NO_OVERFLOW = 1e150


def _partial(flat):
    """Statistics of one piece: count, min, max, mean and M2 (sum of squared deviations)."""
    with np.errstate(all="ignore"):  # extreme values overflow the sums: never warn in the user's program
        return _partial_unguarded(flat)


def _partial_unguarded(flat):
    nan = inf = 0
    extremes = _finite_extremes(flat)
    if extremes is not None:
        low, high = extremes
    else:  # only then is a finite mask needed
        finite = np.isfinite(flat)
        nan = int(np.isnan(flat).sum())
        inf = int(flat.size - finite.sum() - nan)
        flat = flat[finite]
        low, high = (flat.min(), flat.max()) if flat.size else (None, None)
    part = {"n": int(flat.size), "nan": nan, "inf": inf, "min": low, "max": high, "mean": 0.0, "m2": 0.0}
    if not flat.size:
        return part
    if flat.dtype.kind in "iu":
        # Integers: sums are exact for image data (below 2**53), one pass.
        total, square_sum = _byte_sums(flat) if flat.dtype.itemsize == 1 else _chunked_sums(flat)
        mean = total / flat.size
        part["mean"], part["m2"] = mean, max(square_sum - flat.size * mean * mean, 0.0)
    else:
        part["mean"], part["m2"] = _chunked_centred(flat)
    return part


# Rows of 256 bytes: a row's sum fits 16 bits and its sum of squares (<= 256 * 255**2 < 2**24) is
# exact in float32, so both sums are exact without a 64-bit copy of the data (measured ~5x faster).
_BYTE_ROW = 256


def _byte_sums(flat):
    """Exact sum and sum of squares of 8-bit integers."""
    accumulator = np.uint16 if flat.dtype.kind == "u" else np.int16
    total = 0
    square_sum = 0.0
    whole = flat.size - flat.size % _BYTE_ROW
    buffer = np.empty(min(whole, _CHUNK), dtype=np.float32)
    for start in range(0, whole, _CHUNK):
        rows = flat[start:min(start + _CHUNK, whole)].reshape(-1, _BYTE_ROW)
        total += int(np.add.reduce(rows, axis=1, dtype=accumulator).sum(dtype=np.int64))
        view = buffer[:rows.size].reshape(rows.shape)
        view[...] = rows
        square_sum += float(np.einsum("ij,ij->i", view, view).sum(dtype=np.float64))
    if whole < flat.size:
        tail = flat[whole:].astype(np.int64)
        total += int(tail.sum())
        square_sum += float((tail * tail).sum())
    return float(total), square_sum


def _chunked_centred(flat):
    """Mean and M2 of floats in two chunked passes (a large mean with a small spread would cancel in
    a sum of squares); cache-sized buffers avoid allocating array-sized temporaries."""
    buffer = np.empty(min(flat.size, _CHUNK), dtype=np.float64)
    total = 0.0
    for start in range(0, flat.size, _CHUNK):
        piece = flat[start:start + _CHUNK]
        view = buffer[:piece.size]
        view[...] = piece
        total += float(view.sum())
    mean = total / flat.size
    m2 = 0.0
    for start in range(0, flat.size, _CHUNK):
        piece = flat[start:start + _CHUNK]
        view = buffer[:piece.size]
        np.subtract(piece, np.float64(mean), out=view)  # float64: a weak Python float would subtract in float16
        m2 += _square_sum(view)
    return mean, m2


def _merge(parts):
    """Chan et al.'s pairwise combination of counts, means and M2."""
    total = {"n": 0, "nan": 0, "inf": 0, "min": None, "max": None, "mean": 0.0, "m2": 0.0}
    for part in parts:
        total["nan"] += part["nan"]
        total["inf"] += part["inf"]
        if not part["n"]:
            continue
        if total["n"] == 0:
            total.update(n=part["n"], min=part["min"], max=part["max"], mean=part["mean"], m2=part["m2"])
            continue
        n = total["n"] + part["n"]
        delta = part["mean"] - total["mean"]
        total["m2"] += part["m2"] + delta * delta * total["n"] * part["n"] / n
        total["mean"] += delta * part["n"] / n
        total["n"] = n
        total["min"] = min(total["min"], part["min"])
        total["max"] = max(total["max"], part["max"])
    return total


_ROW = 512


def _chunked_sums(flat):
    """Sum and sum of squares of integers wider than a byte, chunk by chunk so the float copy stays
    in cache. 16-bit data goes through float32 rows of 512 whose sums are added in float64 (2x faster
    than float64 throughout); wider integers use float64.
    """
    total = 0
    square_sum = 0.0
    accumulator = np.int64 if flat.dtype.kind == "i" else np.uint64
    narrow = flat.dtype.itemsize <= 2
    buffer = np.empty(min(flat.size, _CHUNK), dtype=np.float32 if narrow else np.float64)
    for start in range(0, flat.size, _CHUNK):
        piece = flat[start:start + _CHUNK]
        view = buffer[:piece.size]
        view[...] = piece
        total += int(np.add.reduce(piece, dtype=accumulator))  # exact, and faster than a float sum
        whole = piece.size - piece.size % _ROW if narrow else 0
        if whole:
            rows = view[:whole].reshape(-1, _ROW)
            square_sum += float(np.einsum("ij,ij->i", rows, rows).sum(dtype=np.float64))
        if whole < piece.size:
            square_sum += _square_sum(view[whole:].astype(np.float64))
    return float(total), square_sum


def _square_sum(x):
    # einsum, not np.dot: a multi-threaded BLAS dot was measured 300x slower on a busy 2-core machine.
    return float(np.einsum("i,i->", x, x))


def _py(value):
    return value.item() if hasattr(value, "item") else value
