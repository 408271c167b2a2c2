"""Notebook and pandas views: DiffResult.to_pandas/_repr_html_, run_to_pandas/run_repr_html, Capture in testing."""
import pytest

import bmtrace
from bmtrace.diff.frames import COLUMNS
from bmtrace.store.frames import run_repr_html, run_to_pandas
from bmtrace.testing import assert_runs_close, capture

from diff.diff_helpers import make_pipeline

pd = pytest.importorskip("pandas")


@pytest.fixture
def shifted(runs):
    """A diff whose resize is off by one on every sample (3 samples, 4 stages)."""
    return bmtrace.diff(runs("a"), runs("b", resize_shift=1))


def test_to_pandas_has_one_row_per_tensor_pair(shifted):
    """Rows = tensor pairs of every entry; the documented columns in order."""
    frame = shifted.to_pandas()
    assert list(frame.columns) == list(COLUMNS)
    assert len(frame) == sum(len(e.tensors) for e in shifted.stages)


def test_to_pandas_figures_match_the_result(shifted):
    """The resize output rows carry the max abs diff the result computed (1 LSB)."""
    frame = shifted.to_pandas()
    rows = frame[(frame.stage == "resize") & (frame.role == "output")]
    assert len(rows) == 3 and set(rows.status) == {"diverged"} and rows.max_abs_diff.max() == 1


def test_repr_html_shows_verdict_and_stage_rows(shifted):
    """_repr_html_ has the verdict and one row per stage, and no pictures or scripts."""
    page = shifted._repr_html_()
    assert "DIVERGED" in page and page.count("<tr>") == 1 + len(shifted.by_stage())
    assert "<img" not in page and "<script" not in page


def test_repr_html_escapes_stage_names(runs):
    """A stage name with markup is shown as text."""
    names = {"resize": "<b>resize</b>"}
    result = bmtrace.diff(runs("a", names=names), runs("b", names=names))
    assert "&lt;b&gt;resize&lt;/b&gt;" in result._repr_html_()


def test_run_to_pandas_is_the_index(runs):
    """run_to_pandas has one row per recorded tensor with stage and sample columns."""
    run = bmtrace.open_run(runs("a"))
    frame = run_to_pandas(run)
    assert len(frame) == sum(len(c.inputs) + len(c.outputs) for c in run.calls())
    assert set(frame.stage) == set(run.stages())


def test_run_repr_html_lists_stages(runs):
    """run_repr_html lists every stage with its call count."""
    run = bmtrace.open_run(runs("a"))
    page = run_repr_html(run)
    assert all("<code>%s</code>" % s in page for s in run.stages()) and "12 call(s)" in page


def test_assert_runs_close_accepts_captures(tmp_path):
    """assert_runs_close takes Capture handles and fails on a planted difference."""
    with capture(tmp_path / "a") as a:
        with bmtrace.sample("x.jpg"):
            make_pipeline()("x.jpg")
    with capture(tmp_path / "b") as b:
        with bmtrace.sample("x.jpg"):
            make_pipeline(resize_shift=1)("x.jpg")
    assert assert_runs_close(a, a)
    with pytest.raises(AssertionError, match="resize"):
        assert_runs_close(a, b)
