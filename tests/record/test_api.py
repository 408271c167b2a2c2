"""The public recording API: runs, stages, samples, names, errors, function identity."""
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import bmtrace
from bmtrace.errors import RunExistsError, UsageError


@bmtrace.trace_stage("double")
def double(x, factor=2):
    return x * factor


class Pipeline:
    @bmtrace.trace_stage("method")
    def scale(self, img, *, k=3):
        return img * k

    @bmtrace.trace_stage("static")
    @staticmethod
    def plus_one(x):
        return x + 1

    @bmtrace.trace_stage("klass")
    @classmethod
    def make(cls, n):
        return np.arange(n)


def test_no_active_run_records_nothing(tmp_path):
    """Without a run, a decorated function runs unchanged and writes nothing."""
    assert double(np.ones(2)).tolist() == [2.0, 2.0]
    with bmtrace.trace_stage("block") as st:
        st.input(x=1)
        st.output(2)
    assert list(tmp_path.iterdir()) == []


def test_decorator_applied_before_start_records(tmp_path):
    """A decorator applied at import time records once a run starts later."""
    with bmtrace.run(tmp_path / "run"):
        double(np.arange(3))
    (call,) = bmtrace.open_run(tmp_path / "run").calls(stage="double")
    assert [t.name for t in call.inputs] == ["x", "factor"]
    assert call.output().load().tolist() == [0, 2, 4]


def test_methods_exclude_self_and_cls(tmp_path):
    """Methods, static methods and class methods record arguments by name without self/cls."""
    with bmtrace.run(tmp_path / "run"):
        Pipeline().scale(np.ones(2), k=4)
        Pipeline.plus_one(np.zeros(1))
        Pipeline().plus_one(np.zeros(1))
        Pipeline.make(3)
    run = bmtrace.open_run(tmp_path / "run")
    assert [t.name for t in run.calls(stage="method")[0].inputs] == ["img", "k"]
    assert run.calls(stage="method")[0].input("k").value == 4
    assert [[t.name for t in c.inputs] for c in run.calls(stage="static")] == [["x"], ["x"]]
    assert [t.name for t in run.calls(stage="klass")[0].inputs] == ["n"]


def test_context_manager_names_inputs_and_outputs(tmp_path):
    """st.input names inputs; st.output names a positional value 'out' and keeps named ones."""
    with bmtrace.run(tmp_path / "run"):
        with bmtrace.trace_stage("normalize") as st:
            st.input(img=np.ones((2, 2)))
            st.output(np.zeros(2), scale=0.5)
    (call,) = bmtrace.open_run(tmp_path / "run").calls()
    assert [t.name for t in call.inputs] == ["img"]
    assert [t.name for t in call.outputs] == ["out", "scale"]
    assert call.output("scale").value == 0.5


def test_output_rejects_two_positional_values(tmp_path):
    """st.output(a, b) is a usage mistake and says how to name the values."""
    with bmtrace.run(tmp_path / "run"):
        with pytest.raises(TypeError, match="name the others"):
            with bmtrace.trace_stage("s") as st:
                st.output(1, 2)


def test_input_recorded_before_in_place_modification(tmp_path):
    """Inputs are captured at call time, so a stage that mutates its input does not rewrite history."""
    @bmtrace.trace_stage("mutate")
    def mutate(buf):
        buf += 100
        return buf

    with bmtrace.run(tmp_path / "run"):
        mutate(np.zeros(3))
    call = bmtrace.open_run(tmp_path / "run").calls()[0]
    assert call.input("buf").load().tolist() == [0, 0, 0]
    assert call.output().load().tolist() == [100, 100, 100]


def test_samples_group_records_and_default_to_none(tmp_path):
    """Records inside sample() carry its key; records outside carry None."""
    with bmtrace.run(tmp_path / "run"):
        double(1)
        with bmtrace.sample("a.jpg"):
            double(2)
            double(3)
        with bmtrace.sample(7):
            double(4)
    run = bmtrace.open_run(tmp_path / "run")
    assert run.samples() == [None, "a.jpg", "7"]
    assert [c.occurrence for c in run.calls(sample="a.jpg")] == [0, 1]


def test_nested_stages_keep_their_parent(tmp_path):
    """A stage called inside another records the outer call as its parent."""
    @bmtrace.trace_stage("outer")
    def outer(x):
        return double(x) + 1

    with bmtrace.run(tmp_path / "run"):
        outer(1)
    run = bmtrace.open_run(tmp_path / "run")
    (inner,) = run.calls(stage="double")
    (out,) = run.calls(stage="outer")
    assert inner.parent == out.id and out.parent is None


def test_exception_is_recorded_and_propagates_unchanged(tmp_path):
    """A raising stage records its inputs and the exception, and the same exception object propagates."""
    error = KeyError("missing")

    @bmtrace.trace_stage("fails")
    def fails(x):
        raise error

    with bmtrace.run(tmp_path / "run"):
        with pytest.raises(KeyError) as caught:
            fails(np.ones(2))
    assert caught.value is error
    (call,) = bmtrace.open_run(tmp_path / "run").calls()
    assert call.error == {"type": "KeyError", "message": "'missing'"}
    assert call.input("x").load().tolist() == [1.0, 1.0]
    assert call.outputs == []


def test_function_identity_is_recorded(tmp_path):
    """Module, qualname and source file of the decorated function are recorded for replay."""
    with bmtrace.run(tmp_path / "run"):
        Pipeline().scale(1)
    fn = bmtrace.open_run(tmp_path / "run").calls()[0].function
    assert fn["module"] == __name__
    assert fn["qualname"] == "Pipeline.scale"
    assert fn["file"] == os.path.abspath(__file__)


def test_meta_applies_to_all_or_named_tensors(tmp_path):
    """Stage meta: plain keys go to every tensor, dict values to the tensor of that name."""
    with bmtrace.run(tmp_path / "run"):
        with bmtrace.trace_stage("s", meta={"color": "BGR", "out": {"layout": "NCHW"}}) as st:
            st.input(img=np.zeros(2))
            st.output(np.zeros(2))
    call = bmtrace.open_run(tmp_path / "run").calls()[0]
    assert call.input("img").meta == {"color": "BGR"}
    assert call.output().meta == {"color": "BGR", "layout": "NCHW"}


def test_existing_run_directory_needs_overwrite(tmp_path):
    """A non-empty run directory is an error unless overwrite=True, which replaces the old run."""
    path = tmp_path / "run"
    with bmtrace.run(path):
        double(1)
    with pytest.raises(RunExistsError, match="overwrite=True"):
        bmtrace.start(path)
    with bmtrace.run(path, overwrite=True):
        double(5)
    assert [c.input("x").value for c in bmtrace.open_run(path).calls()] == [5]


def test_overwrite_refuses_a_directory_that_is_not_a_run(tmp_path):
    """overwrite=True never deletes a directory that bmtrace did not create."""
    (tmp_path / "notes.txt").write_text("keep me")
    with pytest.raises(RunExistsError, match="not a bmtrace run"):
        bmtrace.start(tmp_path, overwrite=True)
    assert (tmp_path / "notes.txt").read_text() == "keep me"


def test_append_adds_to_an_existing_run(tmp_path):
    """append=True keeps earlier records and the run's side."""
    path = tmp_path / "run"
    with bmtrace.run(path, side="port"):
        double(1)
    with bmtrace.run(path, append=True):
        double(2)
    run = bmtrace.open_run(path)
    assert run.side == "port" and len(run.calls()) == 2


def test_bad_arguments_are_usage_errors(tmp_path):
    """Unknown modes, empty stage names and a second start() are reported clearly."""
    with pytest.raises(UsageError, match="mode"):
        bmtrace.start(tmp_path / "r", mode="fast")
    with pytest.raises(UsageError, match="stage name"):
        bmtrace.trace_stage("")
    with bmtrace.run(tmp_path / "a"):
        with pytest.raises(UsageError, match="already active"):
            bmtrace.start(tmp_path / "b")


def test_environment_variable_starts_and_closes_a_run(tmp_path):
    """BMTRACE_DIR starts a run at the first traced call and closes it at interpreter exit."""
    script = tmp_path / "prog.py"
    script.write_text(textwrap.dedent("""
        import numpy as np, bmtrace
        @bmtrace.trace_stage("stage")
        def stage(x):
            return x + 1
        with bmtrace.sample("s0"):
            stage(np.arange(3))
    """))
    env = dict(os.environ, BMTRACE_DIR=str(tmp_path / "run"), BMTRACE_SIDE="port", BMTRACE_MODE="stats")
    subprocess.run([sys.executable, str(script)], env=env, check=True)
    run = bmtrace.open_run(tmp_path / "run")
    assert run.side == "port" and run.meta["ended"] is not None
    (call,) = run.calls()
    assert call.mode == "stats" and not call.output().has_payload
    assert (tmp_path / "run" / "index.parquet").exists()


def test_stop_without_run_is_harmless():
    """stop() with nothing active returns None."""
    assert bmtrace.stop() is None


def test_environment_start_races_no_thread_call(tmp_path):
    """Threads whose first traced calls race the BMTRACE_DIR start all get recorded."""
    script = tmp_path / "prog.py"
    script.write_text(textwrap.dedent("""
        import threading, numpy as np, bmtrace
        @bmtrace.trace_stage("stage")
        def stage(x):
            return x + 1
        barrier = threading.Barrier(8)
        def job(i):
            barrier.wait()
            with bmtrace.sample("t%d" % i):
                stage(np.full(100000, i))
        threads = [threading.Thread(target=job, args=(i,)) for i in range(8)]
        [t.start() for t in threads]
        [t.join() for t in threads]
    """))
    for attempt in range(3):
        run_dir = tmp_path / ("run%d" % attempt)
        subprocess.run([sys.executable, str(script)], env=dict(os.environ, BMTRACE_DIR=str(run_dir)), check=True)
        assert len(bmtrace.open_run(run_dir).calls()) == 8
