"""The substitution hook in-process: decorated functions and `with` blocks receive the plan's values."""
import numpy as np
import pytest

import bmtrace
from bmtrace.replayer.substitute import make_plan, read_notes, write_plan


@bmtrace.trace_stage("scale")
def scale(img, factor=2):
    return img * factor


def _pipeline(offset):
    out = []
    for i in range(2):
        with bmtrace.sample("s%d" % i):
            with bmtrace.trace_stage("shift") as st:
                img = st.input(img=np.full(3, i, np.float32))
                shifted = st.output(img + offset)
            out.append(scale(shifted))
    return out


@pytest.fixture
def source(tmp_path):
    with bmtrace.run(str(tmp_path / "a"), side="a"):
        _pipeline(offset=100)
    return str(tmp_path / "a")


def _with_plan(tmp_path, monkeypatch, plan, offset=0):
    monkeypatch.setenv("BMTRACE_SUBSTITUTE", write_plan(plan, str(tmp_path / "plan.json")))
    with bmtrace.run(str(tmp_path / "b"), side="b"):
        return _pipeline(offset)


def test_with_block_output_is_replaced_and_the_program_continues_with_it(tmp_path, monkeypatch, source):
    """`shifted = st.output(...)` returns A's value, so the decorated stage after it gets A's input."""
    out = _with_plan(tmp_path, monkeypatch, make_plan(source, "shift", "outputs"))
    np.testing.assert_array_equal(out[1], np.full(3, 202, np.float32))
    b = bmtrace.open_run(str(tmp_path / "b"))
    assert b.calls(sample="s1", stage="shift")[0].output().load()[0] == 1  # recorded: what B's code made


def test_decorated_function_gets_the_plans_argument(tmp_path, monkeypatch, source):
    """Substituting inputs of a decorated stage calls it with A's argument, recorded as received."""
    out = _with_plan(tmp_path, monkeypatch, make_plan(source, "scale", "inputs", tensors=["img"]))
    np.testing.assert_array_equal(out[0], np.full(3, 200, np.float32))
    b = bmtrace.open_run(str(tmp_path / "b"))
    assert b.calls(sample="s0", stage="scale")[0].input("img").load()[0] == 100


def test_plan_and_notes_are_written_into_the_new_run(tmp_path, monkeypatch, source):
    """run.json holds the plan; one note per substituted value says what was converted."""
    plan = make_plan(source, "scale", "outputs", samples=["s1"])
    _with_plan(tmp_path, monkeypatch, plan)
    b = bmtrace.open_run(str(tmp_path / "b"))
    assert b.meta["substitution"] == plan
    notes = read_notes(b.path)
    assert [(n["sample"], n["substituted"], n["conversion"]) for n in notes] == [("s1", True, "as recorded")]


def test_stage_named_differently_in_the_source_run(tmp_path, monkeypatch, source):
    """source_stage maps B's stage "move" to A's "shift" (a stage map), so B's block gets A's output."""
    plan = make_plan(source, "move", "outputs", source_stage="shift")
    monkeypatch.setenv("BMTRACE_SUBSTITUTE", write_plan(plan, str(tmp_path / "plan.json")))
    with bmtrace.run(str(tmp_path / "b"), side="b"):
        with bmtrace.sample("s1"):
            with bmtrace.trace_stage("move") as st:
                moved = st.output(np.zeros(3, np.float32))
    np.testing.assert_array_equal(moved, np.full(3, 101, np.float32))
