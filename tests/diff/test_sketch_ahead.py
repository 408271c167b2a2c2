"""A stats-mode diff computes the sketch evidence of coming pairs together (bmtrace.diff.sketch_ahead):
the same result as pair by pair, and the pairs it judges find their evidence ready."""
import json

import pytest

import bmtrace
from bmtrace.compare import sketches
from bmtrace.diff import sketch_ahead

SAMPLES = ["img%02d.jpg" % i for i in range(24)]


@pytest.fixture
def stats_runs(runs):
    return (runs("a", SAMPLES, mode="stats"),
            runs("b", SAMPLES, mode="stats", resize_shift=2, logits_noise=1e-3))


def _document(result):
    doc = result.to_json()
    doc.pop("elapsed_s", None)
    return json.dumps(doc, sort_keys=True)


def _counted(monkeypatch):
    """Evidence computed: per call of evidence_of_pairs, how many pairs; and how many were looked up."""
    batches, found = [], []
    real_batch, real_lookup = sketches.evidence_of_pairs, sketches.sketch_evidence

    def batch(items):
        batches.append(len(items))
        return real_batch(items)

    def lookup(ta, tb, shape, rtol=0.0):
        table = getattr(sketches._local, "ahead", None)
        found.append(bool(table) and (id(ta), id(tb)) in table)
        return real_lookup(ta, tb, shape, rtol)

    monkeypatch.setattr(sketches, "evidence_of_pairs", batch)
    monkeypatch.setattr(sketch_ahead, "evidence_of_pairs", batch)
    monkeypatch.setattr("bmtrace.compare.records.sketch_evidence", lookup)
    return batches, found


def test_evidence_computed_ahead_gives_the_pair_by_pair_result(stats_runs, monkeypatch):
    a, b = stats_runs
    batches, found = _counted(monkeypatch)
    together = _document(bmtrace.diff(a, b, jobs=1))
    assert max(batches) > 20  # a chunk's pairs in one call
    assert found and all(found)  # every pair judged by its sketches found its evidence ready
    monkeypatch.setattr(sketch_ahead, "CHUNK", 1)
    del batches[:], found[:]
    alone = _document(bmtrace.diff(a, b, jobs=1))
    assert max(batches) <= 3  # a call pair's tensors at most
    assert together == alone
    assert json.loads(together)["first_divergence"]["stage"] == "resize"


def test_no_table_is_left_on_the_thread_after_a_diff(stats_runs):
    bmtrace.diff(*stats_runs, jobs=1)
    assert not getattr(sketches._local, "ahead", None)


class _Pair:
    call_a = call_b = None

    def __init__(self, sample):
        self.sample = sample


class _CountedList(list):
    reads = 0

    def __getitem__(self, index):
        _CountedList.reads += 1
        return list.__getitem__(self, index)

    def __iter__(self):
        for item in list.__iter__(self):
            _CountedList.reads += 1
            yield item


def test_a_pair_after_pairs_settled_by_hashes_is_found_near_the_last_chunk():
    pairs = _CountedList(_Pair("s%d" % (i // 3)) for i in range(30000))
    _CountedList.reads = 0
    ahead = sketch_ahead.SketchesAhead(pairs, None, None)
    for index in range(2, len(pairs), 3):  # one pair in three reaches its sketches, as a last stage that differs
        ahead.ready(pairs[index])
    assert ahead.next == len(pairs)
    assert _CountedList.reads < 5 * len(pairs)  # not a search from the start for every chunk
