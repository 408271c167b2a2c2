"""Indexed runs pair by their code arrays (``align.coded_pairs``): exactly the pairs, warnings and orders
of the call-by-call pairing of the same runs read from their journals."""
import numpy as np
import pytest

import bmtrace
from bmtrace.diff import align as align_module
from bmtrace.diff.align import align
from bmtrace.diff.engine import _open
from bmtrace.store.reader import Run

# (sample key or None: outside any sample, stage); a stage repeated in a sample has several occurrences
PLAN_A = [("x", "decode"), ("x", "resize"), ("x", "resize"), (None, "setup"), ("y", "decode"), ("y", "resize"),
          ("only_a", "decode"), ("dir1/cat.jpg", "decode"), ("x", "infer")]
PLAN_B = [("y", "decode"), ("y", "rsz"), (None, "setup"), ("x", "decode"), ("x", "rsz"), ("x", "rsz"),
          ("x", "rsz"), ("only_b", "decode"), ("dir2/cat.jpg", "decode"), ("x", "resize")]
# B's own stage spelled as the name mapping away from a namesake gives it: two B calls with one key
NAMESAKE = [("x", "resize (run B)")]


def _record(path, plan):
    def call(stage):
        with bmtrace.trace_stage(stage) as st:
            st.output(np.full(2, 1.0))

    with bmtrace.run(str(path)):
        for key, stage in plan:
            if key is None:
                call(stage)
            else:
                with bmtrace.sample(key):
                    call(stage)
    return str(path)


def _described(alignment):
    def call(c):
        return None if c is None else (c.sample, c.stage, c.occurrence, c.id)

    return ([(p.sample, p.sample_b, p.stage, p.stage_b, p.occurrence, call(p.call_a), call(p.call_b))
             for p in alignment.pairs], alignment.sample_pairs, alignment.stage_order, alignment.warnings)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("codes")
    return (_record(folder / "a", PLAN_A), _record(folder / "b", PLAN_B),
            _record(folder / "namesake", PLAN_B + NAMESAKE))


@pytest.mark.parametrize("stage_map", [{}, {"resize": "rsz"}, {"resize": "rsz", "decode": "setup"}])
@pytest.mark.parametrize("swap", [False, True])
def test_coded_pairs_equal_call_by_call_pairs(runs, monkeypatch, stage_map, swap):
    """Samples missing on either side, in another order, paired by file name, outside any sample; stages
    mapped, repeated, mapped away from a namesake."""
    path_a, path_b = runs[1::-1] if swap else runs[:2]
    if swap:
        stage_map = {b: a for a, b in stage_map.items()}
    assert _described(_coded_align(monkeypatch, path_a, path_b, stage_map, True)) == _described(
        align(Run(path_a), Run(path_b), stage_map))


def test_keys_shared_by_two_calls_pair_call_by_call(runs, monkeypatch):
    """A stage of B named like the row of a namesake mapped away ("resize (run B)"): two B calls have one
    key, the codes cannot say which pairs, the call-by-call pairing does."""
    path_a, path_b = runs[0], runs[2]
    assert _described(_coded_align(monkeypatch, path_a, path_b, {"resize": "rsz"}, False)) == _described(
        align(Run(path_a), Run(path_b), {"resize": "rsz"}))


def _coded_align(monkeypatch, path_a, path_b, stage_map, paired_by_codes):
    results = []
    coded_pairs = align_module.coded_pairs
    monkeypatch.setattr(align_module, "coded_pairs", lambda *args: results.append(coded_pairs(*args)) or results[-1])
    alignment = align(_open(path_a), _open(path_b), stage_map)
    assert [pairs is not None for pairs in results] == [paired_by_codes]
    return alignment


def test_same_samples_in_the_same_order(tmp_path, monkeypatch):
    plan = [(key, stage) for key in ("s1", "s2", "s3") for stage in ("decode", "infer", "infer")]
    path_a, path_b = _record(tmp_path / "a", plan), _record(tmp_path / "b", plan[3:] + plan[:3])
    for a, b in ((path_a, path_a), (path_a, path_b)):
        indexed = _coded_align(monkeypatch, a, b, {}, True)
        monkeypatch.undo()
        assert _described(indexed) == _described(align(Run(a), Run(b)))
        assert indexed.paired_calls == len(plan)
