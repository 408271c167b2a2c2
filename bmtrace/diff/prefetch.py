"""Load the next call pair's payloads on a helper thread while the current pair is compared.

Reading a payload (a read() into a buffer) releases the GIL, so the disk or page-cache copy of pair
i + 1 overlaps the arithmetic on pair i. At most one pair is in flight: memory stays bounded by two
call pairs whatever the number of samples.
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np

from ..compare.records import same_content
from .align import pair_tensors


# Small pairs load on the comparing thread: handing the GIL back and forth between two threads costs
# more than a small read (measured: 1,000 pairs of 16 KB took 3x longer with a prefetch thread).
PREFETCH_BYTES = 1 << 20


class Prefetcher:
    """``take(i)`` returns ``{id(tensor): array}`` for call pair ``i`` and starts loading pair ``i + 1``."""

    def __init__(self, pairs):
        self.pairs = pairs
        self.executor = None
        self.pending = None          # (index, future)
        self.sample = object()
        self.seen = set()            # (hash A, hash B) already scheduled in this sample
        self.planned = None          # index of the last planned pair

    def take(self, index):
        if self.pending is not None and self.pending[0] == index:
            arrays = self.pending[1].result()
        else:
            if self.planned != index:
                self._plan(index)  # per-sample bookkeeping only; compare_records loads these itself
            arrays = {}
        self.pending = None
        if index + 1 < len(self.pairs):
            plan = self._plan(index + 1)
            self.planned = index + 1
            if _nbytes(plan) >= PREFETCH_BYTES:
                if self.executor is None:
                    self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="bmtrace-prefetch")
                self.pending = (index + 1, self.executor.submit(_load_all, plan))
        return arrays

    def close(self):
        if self.executor is not None:
            self.executor.shutdown(wait=True)
            self.executor = None

    def _plan(self, index):
        """The tensors of call pair ``index`` that ``compare_records`` will load from payloads.

        Mirrors the diff's shortcuts: equal hashes are never loaded, and contents already met in the
        sample (an input that is an earlier output) reuse that verdict.
        """
        pair = self.pairs[index]
        if pair.call_a is None or pair.call_b is None:
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
                plan.append(ta)
                plan.append(tb)
        return plan


def _nbytes(tensors):
    total = 0
    for tensor in tensors:
        count = 1
        for dim in tensor.shape or ():
            count *= int(dim)
        try:
            total += count * np.dtype(tensor.dtype).itemsize
        except TypeError:
            continue
    return total


def _load_all(tensors):
    arrays = {}
    for tensor in tensors:
        try:
            arrays[id(tensor)] = tensor.load()
        except Exception:  # compare_records loads it again and reports the error on the pair
            pass
    return arrays
