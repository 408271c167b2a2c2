"""Load (and measure) the next call pairs' payloads on helper threads while the current pair is compared.

Reading a payload (a read() into a buffer), hashing it and measuring a pair (``compare.metrics``)
release the GIL, so two helper threads, one per core, read, check and measure the tensor pairs of call
pairs i + 1 and i + 2 while the comparing thread works through pair i, which then finds its metrics
already computed. At most three call pairs are in memory at once, whatever the number of samples.

Payloads are read by ``PayloadReader``, which checks each payload directory once instead of every
file's whole path (most of the cost of loading a small tensor); anything unusual is left to
``Tensor.load``, which reads it again and reports the problem on the pair.
"""
from __future__ import annotations

import collections
import os
import posixpath
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from ..codecs.sketch import element_count
from ..compare.metrics import Measured
from ..compare.pairs import pair_is_float
from ..compare.records import Loaded, same_content
from ..store import hashing
from ..store.reader import npy_header_bounds, npy_layout, should_verify
from .align import pair_tensors

# Without O_NOFOLLOW a symlinked payload could not be refused cheaply: Tensor.load then reads all.
_OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NOFOLLOW", 0)
_FAST = hasattr(os, "O_NOFOLLOW")


# Small pairs load on the comparing thread: handing the GIL back and forth between two threads costs
# more than a small read (measured: 1,000 pairs of 16 KB took 3x longer with a prefetch thread).
PREFETCH_BYTES = 1 << 20
# Call pairs loaded ahead of the one compared, by two helper threads that take one tensor pair at a time:
# the worst case of bench_diff (every pair read, hashed and measured; best of 15 interleaved) took
# 0.38 s with one helper reading one pair ahead and the comparing thread measuring, 0.34 s with two
# helpers reading, 0.31 s with two that also measure. More pairs ahead (up to 6) gained nothing: the
# threads then wait for the GIL, which the comparing thread holds while it judges a pair.
AHEAD = 2
WORKERS = 2


class Prefetcher:
    """``take(i)`` returns the ``Loaded`` arrays of call pair ``i`` and starts loading the pairs after it.

    With ``rules`` (the diff's ``ToleranceRules``), pairs loaded on a helper thread are measured there
    too, at the rtol the comparison will resolve for them.
    """

    def __init__(self, pairs, settled=None, rules=None):
        self.pairs = pairs
        self.settled = settled      # pair -> truthy when hashes settle it: the diff never takes it
        self.rules = rules
        self.payload_free = {}       # id(index columns) -> the run holds no payload
        self.reader = PayloadReader()
        self.executor = None
        self.ahead = collections.deque()  # (index, (plan, its helper jobs) or a small plan to read here)
        self.sample = object()
        self.seen = set()            # (hash A, hash B) already scheduled in this sample

    def take(self, index):
        pair = self.pairs[index]
        if self._without_payloads(pair.call_a) or self._without_payloads(pair.call_b):
            # A run without a payload (stats mode): no pair loads anything, so nothing is planned ahead
            # either (and no call pair after this one is looked at).
            return Loaded()
        ahead = self.ahead
        if ahead and ahead[0][0] == index:
            job = ahead.popleft()[1]
            # a small pair is read here, on the comparing thread, and compare_arrays measures it
            arrays = _gathered(job) if isinstance(job, tuple) else _load_all(job, self.reader)
        else:  # not the pair planned (a caller that skips): read here, plan again after it
            self._drop_ahead()
            arrays = _load_all(self._plan(index), self.reader)
        self._plan_ahead(ahead[-1][0] if ahead else index)
        return arrays

    def _plan_ahead(self, last):
        """Queue the pairs after ``last`` up to ``AHEAD``: each tensor pair of a large one starts loading
        on a helper thread (so the two tensors of one large call pair load on both cores)."""
        ahead = self.ahead
        while len(ahead) < AHEAD:
            following = self._following(last)
            if following is None:
                return
            plan = self._plan(following)
            if _nbytes(plan) >= PREFETCH_BYTES:
                if self.executor is None:
                    self.executor = ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix="bmtrace-prefetch")
                ahead.append((following, (plan, [self.executor.submit(_load_all, [item], self.reader, self.rules)
                                                 for item in plan])))
            else:
                ahead.append((following, plan))
            last = following

    def _following(self, index):
        """The next pair the diff will take after ``index`` (settled pairs are skipped), or None."""
        following = index + 1
        if self.settled is not None:
            while following < len(self.pairs) and self.settled(self.pairs[following]):
                following += 1
        return following if following < len(self.pairs) else None

    def _without_payloads(self, call):
        """True for a call found through an index that names no payload at all (a stats-mode run)."""
        columns = getattr(call, "_columns", None)
        if columns is None:
            return False
        known = self.payload_free.get(id(columns))
        if known is None:
            known = self.payload_free[id(columns)] = bool(columns.payloads.null.all())
        return known

    def _drop_ahead(self):
        """Forget the pairs queued ahead; their jobs not yet started never run."""
        for _, job in self.ahead:
            for future in job[1] if isinstance(job, tuple) else ():
                future.cancel()
        self.ahead.clear()

    def close(self):
        self._drop_ahead()  # (a diff that stops early does not wait for pairs it will not compare)
        if self.executor is not None:
            self.executor.shutdown(wait=True)
            self.executor = None

    def _plan(self, index):
        """The tensor pairs ``(A, B, stage)`` of call pair ``index`` that ``compare_records`` will load
        from payloads.

        Mirrors the diff's shortcuts: equal hashes are never loaded, and contents already met in the
        sample (an input that is an earlier output) reuse that verdict.
        """
        pair = self.pairs[index]
        if pair.call_a is None or pair.call_b is None or self._without_payloads(pair.call_a) or \
                self._without_payloads(pair.call_b):
            return []
        if pair.sample != self.sample:
            self.sample, self.seen = pair.sample, set()
        plan = []
        for side_a, side_b in ((pair.call_a.inputs, pair.call_b.inputs),
                               (pair.call_a.outputs, pair.call_b.outputs)):
            for ta, tb in pair_tensors(side_a, side_b):
                if ta is None or tb is None or not (ta.is_array and tb.is_array):
                    continue
                if ta.payload is None or tb.payload is None or same_content(ta, tb):
                    continue
                if ta.hash and tb.hash:
                    key = (ta.hash, tb.hash)
                    if key in self.seen:
                        continue
                    self.seen.add(key)
                plan.append((ta, tb, pair.stage))
        return plan


def _nbytes(plan):
    total = 0
    for tensors in plan:
        for tensor in tensors[:2]:
            count = 1
            for dim in tensor.shape or ():
                count *= int(dim)
            try:
                total += count * np.dtype(tensor.dtype).itemsize
            except TypeError:
                continue
    return total


def _gathered(job):
    """The ``Loaded`` arrays of a plan loaded one tensor pair per helper-thread job."""
    plan, futures = job
    arrays = Loaded(plan)
    for future in futures:
        try:
            part = future.result()
        except Exception:  # compare_records reads the pair itself, and reports what goes wrong
            continue
        arrays.update(part)
        arrays.measured.update(part.measured)
    return arrays


def _load_all(plan, reader=None, rules=None):
    """The ``Loaded`` arrays of a plan; with ``rules``, each pair of same-shape numeric arrays measured."""
    arrays = Loaded(plan)
    for ta, tb, stage in plan:
        for tensor in (ta, tb):
            try:
                array = reader.load(tensor) if reader is not None else None
                arrays[id(tensor)] = array if array is not None else tensor.load()
            except Exception:  # compare_records loads it again and reports the error on the pair
                pass
        if rules is not None and id(ta) in arrays and id(tb) in arrays:
            measured = _measure(arrays[id(ta)], arrays[id(tb)], ta, tb, stage, rules)
            if measured is not None:
                arrays.measured[(id(ta), id(tb))] = measured
    return arrays


def _measure(a, b, ta, tb, stage, rules):
    """``Measured`` for a pair ``compare_arrays`` takes as it is (same shape, real numbers), at the rtol it
    will resolve for it, else None."""
    if a.shape != b.shape or a.dtype.kind not in "biuf" or b.dtype.kind not in "biuf":
        return None
    try:
        return Measured(a, b, rules.resolve(stage, ta.name, pair_is_float(ta.dtype, tb.dtype)).rtol)
    except Exception:  # compare_arrays measures it again, and reports what goes wrong
        return None


class PayloadReader:
    """``Tensor.load`` for the common case, with each payload directory resolved once per diff.

    ``Tensor.load`` resolves every payload's whole path (an lstat per component) to refuse payloads
    outside the run; here the directory is resolved by ``run.payload_path`` once and the file is opened
    with O_NOFOLLOW, so a symlinked payload fails to open and goes the slow, checked way. The payload
    is verified against its content hash exactly when ``Tensor.load`` would.
    """

    def __init__(self):
        self.directories = {}  # (run path, relative directory) -> resolved directory
        self.buffers = _Buffers()

    def load(self, tensor):
        """The array, or None when this payload needs ``Tensor.load`` (which then reports problems)."""
        if not _FAST:
            return None
        try:
            return self._load(tensor)
        except Exception:  # anything unusual: Tensor.load reads it again and names the problem
            return None

    def _load(self, tensor):
        relative, packed, offset = tensor.payload.partition("#") if isinstance(tensor.payload, str) else ("", "", "")
        if packed and not (offset.isdigit() and offset.isascii()):
            return None
        directory, name = posixpath.split(relative) if isinstance(relative, str) else ("", "")
        if not directory or name in ("", ".", "..") or "\\" in relative:
            return None
        run = tensor.call.run
        key = (run.path, directory)
        resolved = self.directories.get(key)
        if resolved is None:
            resolved = self.directories[key] = run.payload_path(directory)
        expected = np.dtype(tensor.dtype)
        if expected.hasobject or expected.names is not None or tensor.shape is None:
            return None
        fd = os.open(os.path.join(resolved, name), _OPEN_FLAGS)
        try:
            if packed:  # one .npy record of a pack: its length is its header's plus the array's
                start = int(offset)
                bounds = npy_header_bounds(os.pread(fd, 12, start))
                if bounds is None:
                    return None
                size = bounds[1] + element_count(tuple(map(int, tensor.shape))) * expected.itemsize
            else:
                start, size = 0, os.fstat(fd).st_size
            buffer = self.buffers.take(size)  # a view, held until the array made from it goes
            if os.preadv(fd, [buffer[:size]], start) != size:
                return None
        finally:
            os.close(fd)
        array = _parse_npy(buffer, size, expected, tuple(tensor.shape))
        if array is None:
            return None
        # (an indexed tensor answers hash and algorithm from its index: its journal line is not parsed)
        if should_verify(tensor, array) and hashing.content_hash(array, tensor.hash_alg) != tensor.hash:
            return None
        return array


class _Buffers:
    """Read buffers used again once no array refers to them any more.

    A fresh buffer for every payload costs a page fault per 4 KiB on first write (a 3.7 MB payload
    read 40% slower). Every array made from a buffer holds an export of it (a memoryview), so a
    buffer still seen by anything (a result, an explanation, the caller) is never overwritten.
    Only buffers up to ``MAX_BYTES`` are kept, at most ``KEEP`` of them.
    """

    # Up to three call pairs in flight (the one compared, two loading), most with one or two tensor pairs
    # that differ. With 8, 40% of the reads of bench_diff's worst case got fresh buffers; with 16, only
    # the first 16 of its 320 (more, up to 32, measured no faster).
    KEEP = 16
    MAX_BYTES = 8 << 20

    def __init__(self):
        self.pool = []
        self.lock = threading.Lock()  # the helper threads and the comparing thread all read

    def take(self, size):
        """A memoryview of a bytearray of at least ``size`` (and at most about twice ``size``) bytes no
        array refers to. The view is made under the lock: from then on the buffer counts as in use (for
        as long as the view, or an array made from it, lives), so no other thread can be given it.

        The upper bound matters: an array kept by a result (predictions keep their logits) keeps its
        whole buffer alive.
        """
        if size > self.MAX_BYTES:
            return memoryview(bytearray(size))  # bytearray: the loaded array stays writable
        with self.lock:
            # the smallest free buffer that fits (sizes first: the export test is the dearer one)
            for buffer in sorted((b for b in self.pool if size <= len(b) <= 2 * size + 4096), key=len):
                if _unexported(buffer):
                    return memoryview(buffer)
            fresh = bytearray(size)
            if len(self.pool) >= self.KEEP:
                # drop the smallest free buffer, else the oldest (still held by some result)
                free = [buffer for buffer in self.pool if _unexported(buffer)]
                self.pool.remove(min(free, key=len) if free else self.pool[0])
            self.pool.append(fresh)
            return memoryview(fresh)


def _unexported(buffer):
    """True when no memoryview or array refers to ``buffer``: only then can it shrink."""
    if not buffer:
        return True
    try:
        last = buffer.pop()  # raises BufferError while exported; no reallocation either way
    except BufferError:
        return False
    buffer.append(last)
    return True


def _parse_npy(buffer, size, expected, shape):
    """The array in the first ``size`` bytes of ``buffer`` (an .npy file) when its header says exactly
    dtype ``expected`` and ``shape``."""
    bounds = npy_header_bounds(bytes(buffer[:12])) if size >= 12 else None
    if bounds is None:
        return None
    offset = bounds[1]
    order = npy_layout(bytes(buffer[bounds[0]:offset]), expected, shape)
    count = 1
    for dim in shape:
        count *= int(dim)
    if order is None or size - offset != count * expected.itemsize:
        return None
    # A transposed array is saved in Fortran order; np.load gives it back Fortran-contiguous, as here.
    return np.frombuffer(buffer, dtype=expected, count=count, offset=offset).reshape(shape, order=order)
