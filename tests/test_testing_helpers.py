"""bmtrace.testing: helpers users call from their own tests."""
import numpy as np
import pytest

import bmtrace
from bmtrace.testing import assert_runs_close, capture


@bmtrace.trace_stage("scale")
def scale(x, k):
    return x * k


def test_capture_records_the_block_and_opens_the_run(tmp_path):
    """capture() records what runs inside and exposes the run afterwards."""
    with capture(tmp_path / "run", side="port") as cap:
        with bmtrace.sample("a"):
            scale(np.ones(3), 2)
    assert cap.run.side == "port" and cap.run.stages() == ["scale"]
    assert cap.run.calls()[0].output().load().tolist() == [2.0, 2.0, 2.0]


def test_assert_runs_close_passes_and_fails_with_the_table(tmp_path):
    """assert_runs_close returns the result when aligned and raises with the table when not."""
    runs = {}
    for name, k in (("a", 2), ("b", 2), ("c", 2.5)):
        with capture(tmp_path / name) as cap:
            scale(np.ones(3), k)
        runs[name] = cap.path
    assert assert_runs_close(runs["a"], runs["b"])
    with pytest.raises(AssertionError, match="scale"):
        assert_runs_close(runs["a"], runs["c"])
    assert assert_runs_close(runs["a"], runs["c"], tol={"scale": 2.0})
