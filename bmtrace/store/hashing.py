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
