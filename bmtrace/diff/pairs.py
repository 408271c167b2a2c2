"""Compare one paired call: its tensors, by name, on the cheapest sound basis, with a content cache.

Equal content hashes settle a pair without loading it, and a stage input holding the same contents
as an earlier output of its sample takes that output's verdict (and tolerance) instead of being
compared again.
"""
from __future__ import annotations

import copy

from ..compare import StageComparison, Status, TensorComparison, compare_records
from .align import pair_tensors


class ContentCache:
    """Verdicts already reached for a (content of A, content of B) pair within one sample.

    A stage's input is usually an earlier stage's output. Reusing that verdict halves the work of a
    pipeline diff and judges the input with its producer's tolerance: ``--tol resize=1`` accepts the
    one-LSB image everywhere it flows, not only at resize.
    """

    def __init__(self):
        self.sample = object()
        self.seen = {}

    def for_sample(self, sample):
        """Start over when the sample changes (keeps the cache small and the pairing local)."""
        if sample != self.sample:
            self.sample = sample
            self.seen = {}
        return self

    @staticmethod
    def _key(ta, tb):
        if ta.hash and tb.hash:
            return (getattr(ta, "hash_alg", None), ta.hash, getattr(tb, "hash_alg", None), tb.hash)
        return None

    def get(self, ta, tb):
        key = self._key(ta, tb)
        return self.seen.get(key) if key is not None else None

    def put(self, ta, tb, result, stage):
        key = self._key(ta, tb)
        if key is not None and result.status != Status.ERROR:
            self.seen.setdefault(key, (result, stage))


def compare_pair(pair, rules, notes=None, cache=None):
    """Compare one CallPair into a StageComparison (status set)."""
    call_a, call_b = pair.call_a, pair.call_b
    entry = StageComparison(pair.sample, pair.stage, pair.occurrence, stage_b=pair.stage_b,
                            sample_b=pair.sample_b,
                            call_a=call_a.id if call_a is not None else None,
                            call_b=call_b.id if call_b is not None else None)
    if call_a is not None:
        entry.parent_a = call_a.parent
    if call_b is None:
        entry.status = Status.ONLY_IN_A
        return entry
    if call_a is None:
        entry.status = Status.ONLY_IN_B
        return entry
    cache = (cache or ContentCache()).for_sample(pair.sample)
    entry.error_a, entry.error_b = call_a.error, call_b.error
    # No sample in the text: the same fallback in every sample is one warning, not thousands.
    where = "stage %s: " % pair.stage
    for role, side_a, side_b in (("input", call_a.inputs, call_b.inputs),
                                 ("output", call_a.outputs, call_b.outputs)):
        for ta, tb in pair_tensors(side_a, side_b, notes, where + role + "s: "):
            entry.tensors.append(_compare_tensor(ta, tb, role, pair.stage, rules, cache))
    if getattr(call_a, "mode", "full") != getattr(call_b, "mode", "full"):
        entry.notes.append("recorded in %s mode in A and %s mode in B" % (call_a.mode, call_b.mode))
    entry.finish()
    return entry


def _compare_tensor(ta, tb, role, stage, rules, cache):
    if ta is None or tb is None:
        return TensorComparison((ta or tb).name, Status.ONLY_IN_A if tb is None else Status.ONLY_IN_B,
                                role=role, shape_a=ta.shape if ta is not None else None,
                                shape_b=tb.shape if tb is not None else None,
                                dtype_a=ta.dtype if ta is not None else None,
                                dtype_b=tb.dtype if tb is not None else None)
    known = cache.get(ta, tb)
    # An explicit rule for this very tensor (or, for outputs, for this stage) wins over reuse.
    explicit = rules.names_tensor(stage, ta.name) or (role == "output" and stage in rules.overrides)
    if known is not None and not explicit:
        return _reused(known, ta, tb, role)
    result = compare_records(ta, tb, stage=stage, rules=rules)
    result.role = role
    cache.put(ta, tb, result, "%s.%s" % (stage, ta.name))
    return result


def _reused(known, ta, tb, role):
    """A copy of an earlier verdict on the same contents, renamed for this tensor."""
    source, where = known
    result = copy.copy(source)
    result.name = ta.name
    result.name_b = tb.name if tb.name != ta.name else None
    result.role = role
    result.notes = list(source.notes)
    result.same_as = where
    return result
