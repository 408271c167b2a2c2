"""Content hashes of arrays: xxh3-128 when the optional ``xxhash`` package is importable, else SHA-1.

The hash covers dtype, shape and bytes. The data is hashed in 1 MiB blocks and the block digests are
hashed again, so the blocks of one large array can be hashed on several threads with the same result.
Equal hashes mean bit-identical arrays only when both were made with the same algorithm: compare
records with ``same_content``, never by the hash strings alone.

numpy and stdlib only (the recording path); xxhash is used when present (``pip install 'bmtrace[fast]'``).
"""
from __future__ import annotations

import hashlib

import numpy as np

SHA1 = "sha1"
XXH3 = "xxh3-128"
BLOCK_BYTES = 1 << 20

_xxhash = None
_resolved = False


def _fast_module():
    """xxhash, imported at the first hash (``import bmtrace`` stays stdlib + numpy + wrapt)."""
    global _xxhash, _resolved
    if not _resolved:
        try:
            import xxhash
            _xxhash = xxhash
        except ImportError:  # bare device images: SHA-1, about 15x slower, same guarantees
            pass
        _resolved = True
    return _xxhash


def algorithm():
    """The algorithm this process hashes with: "xxh3-128" when xxhash is importable, else "sha1"."""
    return XXH3 if _fast_module() is not None else SHA1


def available(alg):
    """Whether this process can compute hashes of algorithm ``alg``."""
    return alg == SHA1 or (alg == XXH3 and _fast_module() is not None)


def block_digest(data, alg=None):
    """Digest of one block (a bytes-like object)."""
    if (alg or algorithm()) == XXH3:
        return _xxhash.xxh3_128_digest(data)
    return hashlib.sha1(data).digest()


def finish(dtype_str, shape, digests, alg=None):
    """The content hash (32 hex digits) from dtype, shape and the block digests in order."""
    header = ("%s|%s|" % (dtype_str, shape)).encode()
    if (alg or algorithm()) == XXH3:
        return _xxhash.xxh3_128_hexdigest(header + b"".join(digests))
    h = hashlib.sha1(header)
    for digest in digests:
        h.update(digest)
    return h.hexdigest()[:32]


def content_hash(arr, alg=None):
    """Hash of ``arr``'s dtype, shape and bytes, the same in every process and on every machine."""
    alg = alg or algorithm()
    if not available(alg):
        raise ValueError("hash algorithm %r is not available here (install xxhash for %s)" % (alg, XXH3))
    if not arr.flags.c_contiguous and arr.nbytes > PIECE_BYTES:
        return scan(arr, alg=alg)  # hashed a piece at a time: no copy of the whole array
    data = np.ascontiguousarray(arr)
    if data.nbytes <= BLOCK_BYTES:  # one block (the common small record): the same digest, fewer steps
        return finish(data.dtype.str, data.shape, [block_digest(data.reshape(-1).view(np.uint8) if data.size
                                                                else b"", alg)], alg)
    itemsize = max(data.dtype.itemsize, 1)
    raw = data.reshape(-1).view(np.uint8) if data.size else np.zeros(0, np.uint8)
    block_items = max(BLOCK_BYTES // itemsize, 1)
    blocks = max(-(-data.size // block_items), 1)
    digests = [block_digest(raw[b * block_items * itemsize:min((b + 1) * block_items, data.size) * itemsize], alg)
               for b in range(blocks)]
    return finish(data.dtype.str, data.shape, digests, alg)


# The pieces of ``scan``: small enough to stay in the L2 cache between the hash and the visitor (of
# 128 KB to 1 MB, 512 KB measured fastest for a hash plus min and max of 1-6 MB arrays).
PIECE_BYTES = 1 << 19


def scan(arr, visit=None, want_hash=True, alg=None):
    """``content_hash(arr)`` in one pass over ``arr``'s C-order elements, in pieces of about
    ``PIECE_BYTES``, and ``visit(start, piece)`` on each piece (1-D, ``arr``'s dtype, ``start`` its
    flat C-order index) while it is in cache. A non-contiguous array is copied one piece at a time into
    a reused buffer, never whole: ``visit`` must copy what it keeps. None when not ``want_hash``.

    Hashing a block in pieces gives the same digest as hashing it at once (both algorithms stream).
    """
    alg = alg or algorithm()
    # np.asarray: a subclass (np.matrix) reshapes its own way; a 0-d array is hashed as its 1-d copy
    data = np.asarray(arr) if arr.ndim else np.ascontiguousarray(arr)
    digests = _BlockDigests(alg, data.dtype.itemsize) if want_hash else None
    piece_items = max(PIECE_BYTES // max(data.dtype.itemsize, 1), 1)
    pieces = _flat_pieces(data, piece_items) if data.flags.c_contiguous else _copied_pieces(data, piece_items)
    for start, piece in pieces:
        if digests is not None:
            digests.feed(piece.view(np.uint8))
        if visit is not None:
            visit(start, piece)
    return finish(data.dtype.str, data.shape, digests.close(), alg) if want_hash else None


def _flat_pieces(data, piece_items):
    flat = data.reshape(-1)
    for start in range(0, max(flat.size, 1), piece_items):
        yield start, flat[start:start + piece_items]


def _copied_pieces(data, piece_items):
    """Contiguous C-order pieces of a non-contiguous array: whole runs of its trailing axes, copied."""
    shape = data.shape
    split, inner = data.ndim, 1  # axes from ``split`` on fit in one piece
    while split > 0 and inner * shape[split - 1] <= piece_items:
        split -= 1
        inner *= shape[split]
    if split == 0:
        yield 0, np.ascontiguousarray(data).reshape(-1)
        return
    step = max(piece_items // inner, 1)  # along axis split - 1
    buffer = np.empty(step * inner, data.dtype)
    start = 0
    for outer in np.ndindex(*shape[:split - 1]):
        for first in range(0, shape[split - 1], step):
            source = data[outer + (slice(first, first + step),)]
            piece = buffer[:source.size]
            np.copyto(piece.reshape(source.shape), source)
            yield start, piece
            start += piece.size


class _BlockDigests:
    """The digests of consecutive blocks of ``BLOCK_BYTES`` (whole items), fed in pieces of any size."""

    def __init__(self, alg, itemsize):
        self._new = _fast_module().xxh3_128 if alg == XXH3 else hashlib.sha1
        self._block = max(BLOCK_BYTES // max(itemsize, 1), 1) * max(itemsize, 1)
        self._left = self._block
        self._current = self._new()
        self.digests = []

    def feed(self, raw):
        start = 0
        while raw.size - start >= self._left:
            self._current.update(raw[start:start + self._left])
            start += self._left
            self.digests.append(self._current.digest())
            self._current, self._left = self._new(), self._block
        if start < raw.size:
            self._current.update(raw[start:])
            self._left -= raw.size - start

    def close(self):
        """The digests in order; an empty array has one, of no bytes."""
        if self._left < self._block or not self.digests:
            self.digests.append(self._current.digest())
        return self.digests


def same_content(ta, tb):
    """Whether two recorded tensors hold bit-identical arrays, judged by their content hashes.

    Returns True (same hash, same algorithm), False (different hashes of one algorithm) or None when
    the hashes say nothing: one is missing, or they were made with different algorithms.
    """
    hash_a, hash_b = getattr(ta, "hash", None), getattr(tb, "hash", None)
    if not hash_a or not hash_b:
        return None
    if (getattr(ta, "hash_alg", None) or SHA1) != (getattr(tb, "hash_alg", None) or SHA1):
        return None
    return hash_a == hash_b
