"""The return-value contract of st.input/st.output, and the substitution hook behind it."""
import numpy as np
import pytest

import bmtrace
from bmtrace import api


@pytest.fixture(params=[True, False], ids=["run", "no-run"])
def maybe_run(request, tmp_path):
    """Run each test with an active run and without one: the contract is the same."""
    if request.param:
        with bmtrace.run(tmp_path / "run"):
            yield True
    else:
        yield False


def test_input_returns_the_single_value(maybe_run):
    """img = st.input(img=img) hands back the very object."""
    img = np.zeros((2, 2))
    with bmtrace.trace_stage("s") as st:
        assert st.input(img=img) is img


def test_input_returns_several_values_in_keyword_order(maybe_run):
    """Several named inputs come back as a tuple in keyword order."""
    a, b, c = object(), [1], "x"
    with bmtrace.trace_stage("s") as st:
        result = st.input(b=b, a=a, c=c)
    assert isinstance(result, tuple) and [id(v) for v in result] == [id(b), id(a), id(c)]


def test_output_returns_the_positional_value_even_with_named_ones(maybe_run):
    """st.output(out, extra=e) returns out."""
    out = np.ones(3)
    with bmtrace.trace_stage("s") as st:
        assert st.output(out, scores=np.zeros(3)) is out


def test_output_with_only_named_values_returns_them(maybe_run):
    """One named output returns the value; several return a tuple in keyword order."""
    boxes, scores = np.zeros((1, 4)), np.ones(1)
    with bmtrace.trace_stage("s") as st:
        assert st.output(boxes=boxes) is boxes
        both = st.output(scores=scores, boxes=boxes)
    assert both[0] is scores and both[1] is boxes


def test_empty_calls_return_none(maybe_run):
    """st.input() and st.output() with nothing return None."""
    with bmtrace.trace_stage("s") as st:
        assert st.input() is None and st.output() is None


def test_decorated_function_returns_its_own_result(maybe_run):
    """A decorated function's result object is returned unchanged."""
    result = {"k": np.arange(2)}

    @bmtrace.trace_stage("f")
    def f(x):
        return result

    assert f(1) is result


class _Plan:
    """A stand-in substitution plan: replaces one stage's output, logs what it was asked."""

    def __init__(self):
        self.asked = []

    def replace(self, call, role, name, value):
        self.asked.append((call.stage, role, name))
        if call.stage == "b":
            return value * 100 if role == "input" else value + 0.5
        return value


def test_substitution_hook_replaces_values_and_records_what_the_stage_saw(tmp_path):
    """With recorder.substitution set, stages get the plan's values; records hold the received inputs and produced outputs."""
    plan = _Plan()

    @bmtrace.trace_stage("b")
    def stage_b(x):
        return x + 1

    with bmtrace.run(tmp_path / "run"):
        api._active_recorder().substitution = plan
        with bmtrace.trace_stage("a") as st:
            img = st.input(img=5)
            out_a = st.output(img * 2)
        out_b = stage_b(out_a)
    assert (img, out_a, out_b) == (5, 10, 1001.5)
    assert plan.asked == [("a", "input", "img"), ("a", "output", "out"), ("b", "input", "x"), ("b", "output", "out")]
    (call_b,) = bmtrace.open_run(tmp_path / "run").calls(stage="b")
    assert (call_b.input("x").value, call_b.output().value) == (1000, 1001)


def test_failing_substitution_keeps_the_programs_value(tmp_path, capfd):
    """A plan that raises is reported once and the program continues with its own value."""
    class Broken:
        def replace(self, call, role, name, value):
            raise RuntimeError("no such run")

    with bmtrace.run(tmp_path / "run"):
        api._active_recorder().substitution = Broken()
        with bmtrace.trace_stage("a") as st:
            assert st.output(3) == 3
    assert "could not substitute output 'out' of stage 'a'" in capfd.readouterr().err
