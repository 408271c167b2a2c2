"""Sketch evidence of the coming call pairs of a stats-mode diff, computed together.

A stats-mode pair is judged from its two sketches (``bmtrace.compare.sketches``): some twenty numpy
calls on a thousand values, each costing more than its arithmetic. So when the diff reaches a pair
outside the current chunk, the tensor pairs of the next ``CHUNK`` call pairs that will reach their
sketches are gathered and ``evidence_of_pairs`` computes their figures group by group; the judging
then finds each pair's evidence in that table. Gathering only decides what is computed ahead: a
tensor pair left out (an input whose verdict an earlier output's will give, say) is computed when
judged, with the same figures.
"""
from __future__ import annotations

from ..compare.records import sketch_request
from ..compare.sketches import computed_ahead, evidence_of_pairs
from .align import pair_tensors

CHUNK = 128  # call pairs: well within the calls whose parsed lines a run keeps (reader.LAZY_CACHE_CALLS)


class SketchesAhead:
    """``with ahead.ready(pair):`` around judging ``pair`` (pairs in the diff's order)."""

    def __init__(self, pairs, rules, settled):
        self.pairs, self.rules, self.settled = pairs, rules, settled
        self.next = 0          # where the current chunk ends
        self.chunk = set()     # ids of its call pairs (the diff's pairs list keeps them alive)
        self.table = computed_ahead({})

    def ready(self, pair):
        if id(pair) not in self.chunk:
            self._compute(self._index(pair))
        return self.table

    def _index(self, pair):
        """The pair's index: soon after the current chunk (pairs settled by their hashes in between
        never ask), else anywhere (a forked child's first pair: once)."""
        pairs = self.pairs
        for start, end in ((self.next, len(pairs)), (0, self.next)):
            for i in range(start, end):
                if pairs[i] is pair:
                    return i
        raise ValueError("a call pair not among the diff's")

    def _compute(self, first):
        end = min(first + CHUNK, len(self.pairs))
        chunk = self.pairs[first:end]
        items = []
        sample, outputs = None, set()
        for pair in chunk:
            if pair.sample != sample:
                sample, outputs = pair.sample, set()
            items.extend(self._requests(pair, outputs))
        table = {}
        for (ta, tb, shape, rtol), evidence in zip(items, evidence_of_pairs(items)):
            table[(id(ta), id(tb))] = (ta, tb, shape, rtol, evidence)
        self.table.table = table
        self.chunk = {id(pair) for pair in chunk}
        self.next = end

    def _requests(self, pair, outputs):
        """``(ta, tb, shape, rtol)`` of the pair's tensors that will likely be judged by their sketches.
        ``outputs``: hash pairs of the sample's outputs so far, whose verdict an equal input reuses."""
        call_a, call_b = pair.call_a, pair.call_b
        if call_a is None or call_b is None or self.settled.layout(pair) is not None:
            return []
        found = []
        for role, side_a, side_b in (("input", call_a.inputs, call_b.inputs),
                                     ("output", call_a.outputs, call_b.outputs)):
            for ta, tb in pair_tensors(side_a, side_b):
                if ta is None or tb is None:
                    continue
                hashes = (ta.hash, tb.hash)
                if role == "input" and hashes in outputs:
                    continue
                if role == "output":
                    outputs.add(hashes)
                request = sketch_request(ta, tb, pair.stage, self.rules)
                if request is not None:
                    found.append((ta, tb) + request)
        return found
