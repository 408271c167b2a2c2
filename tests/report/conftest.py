"""Recorded runs and rendered reports shared by the HTML report tests (recorded once per session)."""
import os

import numpy as np
import pytest

import bmtrace

from .pipeline import as_result, make_doc, record_pair

pytest.importorskip("matplotlib", reason="the HTML report needs matplotlib (pip install 'bmtrace[report]')")
pytest.importorskip("cv2", reason="the report test pipeline uses OpenCV (pip install 'bmtrace[imaging]')")


@pytest.fixture(scope="session")
def planted_runs(tmp_path_factory):
    """Runs A and B of the 6-stage pipeline over 4 pictures; B resizes with nearest-neighbour."""
    a, b = record_pair(str(tmp_path_factory.mktemp("planted")), n_samples=4, planted="resize")
    return bmtrace.open_run(a), bmtrace.open_run(b)


@pytest.fixture(scope="session")
def planted_doc(planted_runs):
    """The diff document of the planted runs."""
    return make_doc(*planted_runs)


@pytest.fixture(scope="session")
def planted_html(planted_runs, planted_doc):
    """The HTML report of the planted runs."""
    from bmtrace.report.html import render_html

    return render_html(as_result(planted_doc), *planted_runs)


@pytest.fixture(scope="session")
def planted_report_file(planted_runs, planted_doc, tmp_path_factory):
    """The planted runs' report written to disk."""
    from bmtrace.report.html import save_html

    path = os.path.join(str(tmp_path_factory.mktemp("html")), "report.html")
    return save_html(as_result(planted_doc), *planted_runs, path)


# The side being recorded; a module global rather than an argument, so it is not a recorded input.
_SIDE = {"now": "A"}


@bmtrace.trace_stage("nan_image", meta={"layout": "HWC"})
def nan_image():
    side = _SIDE["now"]
    img = np.linspace(0, 1, 32 * 32 * 3, dtype=np.float32).reshape(32, 32, 3)
    if side == "B":
        img = img.copy()
        img[5:9, 5:9, 1] = np.nan  # NaN on one side only: a divergence the heatmap must flag
        img[20, 20, 0] = np.inf
    return img


@bmtrace.trace_stage("inf_vector")
def inf_vector():
    side = _SIDE["now"]
    vec = np.linspace(-1, 1, 50).astype(np.float32)
    if side == "B":
        vec = vec.copy()
        vec[3] = np.inf
        vec[7] = np.nan
    return vec


@bmtrace.trace_stage("empty")
def empty():
    return np.zeros((0, 3), np.float32)


@bmtrace.trace_stage("layout")
def layout():
    # the same picture, HWC on side A and CHW on side B (a port that feeds the NPU planar data)
    img = np.linspace(0, 255, 24 * 40 * 3).reshape(24, 40, 3).astype(np.uint8)
    return img if _SIDE["now"] == "A" else np.ascontiguousarray(img.transpose(2, 0, 1))


@bmtrace.trace_stage("only_a")
def only_a():
    return np.ones((16, 16), np.uint8)


def _record_bad(run_dir, side, mode):
    _SIDE["now"] = side
    with bmtrace.run(run_dir, side=side, mode=mode, overwrite=True):
        with bmtrace.sample("bad.png"):
            nan_image()
            inf_vector()
            empty()
            layout()
            if side == "A":
                only_a()
    return bmtrace.open_run(run_dir)


@pytest.fixture(scope="session")
def bad_runs(tmp_path_factory):
    """Runs whose tensors hold NaN, inf, empty arrays and a stage recorded on side A only."""
    base = str(tmp_path_factory.mktemp("bad"))
    return (_record_bad(os.path.join(base, "a"), "A", "full"),
            _record_bad(os.path.join(base, "b"), "B", "full"))


@pytest.fixture(scope="session")
def stats_runs(tmp_path_factory):
    """The planted pipeline recorded in stats mode: statistics and hashes, no payloads."""
    a, b = record_pair(str(tmp_path_factory.mktemp("stats")), n_samples=2, planted="resize", mode="stats")
    return bmtrace.open_run(a), bmtrace.open_run(b)


@pytest.fixture(scope="session")
def isolated_doc(planted_runs):
    """The planted runs diffed with isolation replay (local vs inherited error)."""
    import importlib.util

    if importlib.util.find_spec("bmtrace.replayer") is None:
        pytest.skip("isolation replay (bmtrace.replayer) is not in this bmtrace")
    from bmtrace.diff import diff

    return diff(*planted_runs, isolate=True).to_json()
