"""Fixtures for bmtrace.auto tests: record a function's library calls in-process, images on disk."""
import os

import numpy as np
import pytest

import bmtrace
from bmtrace import _state


@pytest.fixture(autouse=True)
def no_auto_leaks():
    """Every test starts and ends with automatic tracing off, no run active and no patch applied."""
    yield
    if _state.recorder is not None:
        bmtrace.stop()
    import bmtrace.auto as auto

    auto.cancel()
    assert auto.active_patches() == []
    _state.current_sample.set(None)


@pytest.fixture
def record(tmp_path):
    """record(fn, libs=None, sample_from=None, name="run") runs fn with auto tracing in a run; returns the run."""
    counter = [0]

    def factory(fn, libs=None, sample_from=None, name=None):
        counter[0] += 1
        path = tmp_path / (name or "run%d" % counter[0])
        bmtrace.auto(libs, sample_from=sample_from)
        with bmtrace.run(str(path), overwrite=True):
            fn()
        return bmtrace.open_run(str(path))

    return factory


@pytest.fixture
def images(tmp_path):
    """Two small distinct PNG files (BGR as OpenCV writes them); returns their paths."""
    import cv2

    paths = []
    for i in range(2):
        path = str(tmp_path / ("img%d.png" % i))
        cv2.imwrite(path, np.random.default_rng(i).integers(0, 256, (30, 40, 3), dtype=np.uint8))
        paths.append(path)
    return paths


def only(run, stage):
    """The single call of ``stage`` in ``run`` (fails when there are none or several)."""
    calls = run.calls(stage=stage)
    assert len(calls) == 1, [(c.stage, c.function.get("op")) for c in run.calls()]
    return calls[0]


def ops(run):
    """(stage, op) of every call, in recording order."""
    return [(c.stage, c.function.get("op")) for c in run.calls()]


def basename(path):
    return os.path.basename(path)
