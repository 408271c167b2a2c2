"""compare_records on tensors read back from real runs: hash, payload, value and error bases."""

import numpy as np
from payload_files import damage
import pytest

import bmtrace
from bmtrace.compare import Status, compare_records
from bmtrace.compare.results import TensorComparison


def _record(path, **outputs):
    with bmtrace.run(str(path)):
        with bmtrace.trace_stage("stage") as st:
            st.output(**outputs)
    return bmtrace.open_run(str(path)).calls()[0]


def test_equal_hashes_decide_without_loading(tmp_path):
    """Bit-identical payloads are EQUAL on the hash basis."""
    a = _record(tmp_path / "a", out=np.arange(10.0))
    b = _record(tmp_path / "b", out=np.arange(10.0))
    r = compare_records(a.outputs[0], b.outputs[0])
    assert (r.status, r.basis) == (Status.EQUAL, "hash")


def test_different_payloads_are_loaded_and_measured(tmp_path):
    """Different payloads are compared element by element."""
    a = _record(tmp_path / "a", out=np.zeros(4, np.float32))
    b = _record(tmp_path / "b", out=np.full(4, 0.5, np.float32))
    r = compare_records(a.outputs[0], b.outputs[0])
    assert (r.basis, r.max_abs_diff) == ("payload", 0.5)


def test_strings_compare_by_value(tmp_path):
    """A label string is EQUAL or DIVERGED by value."""
    a = _record(tmp_path / "a", label="cat")
    b = _record(tmp_path / "b", label="dog")
    r = compare_records(a.outputs[0], b.outputs[0])
    assert (r.status, r.basis) == (Status.DIVERGED, "value")
    assert "cat" in r.notes[0] and "dog" in r.notes[0]


def test_python_scalars_compare_numerically(tmp_path):
    """A float score 0.5 vs 0.5004 is CLOSE under the float tolerance."""
    a = _record(tmp_path / "a", score=0.5)
    b = _record(tmp_path / "b", score=0.5004)
    assert compare_records(a.outputs[0], b.outputs[0]).status == Status.CLOSE


def test_damaged_payload_is_an_error_result(tmp_path):
    """A truncated .npy payload gives status 'error' with the exception, not a crash."""
    a = _record(tmp_path / "a", out=np.zeros(1000))
    b = _record(tmp_path / "b", out=np.ones(1000))
    damage(b.outputs[0], "truncated")
    r = compare_records(a.outputs[0], b.outputs[0])
    assert r.status == Status.ERROR
    assert "could not load" in r.notes[0]


def test_damaged_payload_makes_the_stage_an_error(tmp_path):
    """The stage entry of a damaged payload has status 'error' in the diff."""
    _record(tmp_path / "a", out=np.zeros(1000))
    b = _record(tmp_path / "b", out=np.ones(1000))
    damage(b.outputs[0], "truncated")
    result = bmtrace.diff(str(tmp_path / "a"), str(tmp_path / "b"))
    assert result.stages[0].status == "error"
    assert result.first_divergence.stage == "stage"


def _recorded_pair(tmp_path, mode, a, b):
    """The output tensors of two one-call runs recorded in ``mode``."""
    runs = []
    for side, values in (("a", a), ("b", b)):
        path = str(tmp_path / ("%s_%s" % (mode, side)))
        with bmtrace.run(path, mode=mode):
            with bmtrace.trace_stage("stage") as st:
                st.output(out=values)
        runs.append(bmtrace.open_run(path).calls()[0].outputs[0])
    return runs


@pytest.mark.parametrize("a, b", [
    (np.float32([0.5, -1.25, 3.0, 0.0, 2.5, -0.75, 1.0, 4.0, -2.0, 0.125]),
     np.float32([0.5005, -1.25, 2.9, 0.001, 2.5, -0.75, 1.0, 4.0, -2.0, 0.0])),  # logits: 10 values
    (np.arange(192, dtype=np.uint8).reshape(8, 8, 3), np.arange(192, dtype=np.uint8).reshape(8, 8, 3) // 2),
    (np.arange(-20, 20, dtype=np.int16), np.arange(-20, 20, dtype=np.int16)[::-1].copy()),
    (np.eye(16, dtype=bool), np.eye(16, dtype=bool)[::-1].copy()),  # a mask: its sketch holds bytes, no image
])
def test_a_sketch_holding_every_element_judges_as_the_payloads_do(tmp_path, a, b):
    """A stats-mode pair whose sketches hold the whole tensors gets the figures and verdict of comparing
    the payloads, and says they are exact (no lower bound): only the basis and that note differ."""
    full = compare_records(*_recorded_pair(tmp_path, "full", a, b)).to_json()
    stats = compare_records(*_recorded_pair(tmp_path, "stats", a, b)).to_json()
    assert (full["basis"], stats["basis"]) == ("payload", "sketch")
    assert stats["notes"] == ["stats-mode record: the sketch holds all %d elements, so these figures are exact"
                              % a.size] and full["notes"] == []
    assert stats["lower_bound"] is False
    assert TensorComparison.from_json(stats).is_lower_bound() is False  # a saved document renders the same
    for doc in (full, stats):
        for key in ("basis", "notes"):
            doc.pop(key)
    assert stats == full and full["status"] != "equal"


def test_a_sketch_whose_sums_overflow_reports_no_cosine(tmp_path):
    """Sampled values past 1e154 overflow x.x in float64: the estimate has no cosine (it was clamped to
    1.0), and the note says so rather than failing to format it."""
    a = np.tile(np.array([1e200, -3e200, 2e200, 5e199]), 1024)  # 32 KB: the sketch samples it
    ta, tb = _recorded_pair(tmp_path, "stats", a, -a)
    result = compare_records(ta, tb)
    assert result.basis == "sketch" and result.status == "diverged"
    assert result.cosine is None
    assert any("cosine unknown" in note for note in result.notes)
