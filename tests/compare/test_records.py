"""compare_records on tensors read back from real runs: hash, payload, value and error bases."""

import numpy as np
from payload_files import damage

import bmtrace
from bmtrace.compare import Status, compare_records


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
