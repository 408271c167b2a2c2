"""Text, JSON, HTML and the one-line verdict tell the same truth (regressions of issue 11)."""
import os
import re

import numpy as np
import pytest

import bmtrace
from bmtrace.diff import DiffResult
from bmtrace.report.text import describe_first, render, render_table

from .diff_helpers import record

GOLDEN = os.path.join(os.path.dirname(__file__), "golden")


def _diff(a, b, **options):
    return bmtrace.diff(a, b, **options)


def _program(stage, make):
    """A one-stage program whose output for sample `key` is make(key)."""

    def run(key):
        with bmtrace.trace_stage(stage) as st:
            st.output(make(key))
    return run


def _row(result, stage):
    rows = render_table(result).splitlines()
    return next(r for r in rows if r.split() and stage in r.split()[:2])


def _summary(result, stage):
    return next(s for s in result.to_json()["summary"] if s["stage"] == stage)


def test_sample_missing_in_b_is_the_same_status_everywhere(tmp_path):
    """A stage with one sample in both runs and one only in A is 'only in A' in table, JSON, HTML, one line."""
    pytest.importorskip("matplotlib")
    from bmtrace.report.html import render_html

    prog = _program("resize", lambda key: np.arange(4, dtype=np.uint8))
    result = _diff(record(tmp_path / "a", ["s1", "s2"], prog), record(tmp_path / "b", ["s1"], prog))
    assert "only in A 1/2" in _row(result, "resize")
    assert _summary(result, "resize")["status"] == "only_in_a"
    assert "0/1 stages aligned" in str(result) and not result
    html = render_html(result)
    chip = re.search(r'<a class="chip s-(\w+)[^>]*title="([^"]+)"><div class="n">resize<', html)
    assert chip.groups() == ("missing", "only in A")


@pytest.mark.parametrize("shapes", [((3,), (4,)), ((2, 3), (3, 2))])
def test_shape_mismatch_row_shows_the_shapes_not_zero_and_one(tmp_path, shapes):
    """A shape mismatch is never shown as max abs diff 0 / cosine 1: the row says which shapes."""
    a = record(tmp_path / "a", ["s"], _program("boxes", lambda key: np.zeros(shapes[0], np.float32)))
    b = record(tmp_path / "b", ["s"], _program("boxes", lambda key: np.zeros(shapes[1], np.float32)))
    row = _row(_diff(a, b), "boxes")
    assert "shape %s vs %s" % shapes in row
    assert " 0 " not in row and "1.000000" not in row


def test_outputs_in_another_order_are_not_zero_and_one(tmp_path):
    """Three outputs returned in another order pair by position into shape mismatches, and say so."""
    outputs = [np.zeros(3, np.float32), np.zeros(4, np.float32), np.zeros(5, np.float32)]

    def prog(order):
        def run(key):
            with bmtrace.trace_stage("post") as st:
                st.output(tuple(outputs[i] for i in order))
        return run
    result = _diff(record(tmp_path / "a", ["s"], prog((0, 1, 2))), record(tmp_path / "b", ["s"], prog((1, 0, 2))))
    row = _row(result, "post")
    assert "DIVERGED" in row and "shape (3,) vs (4,)" in row and "1.000000" not in row


def test_nan_in_b_is_counted_not_shown_as_zero_diff(tmp_path):
    """NaN/Inf at other positions: the row names the counts, and no 'passes with atol' is offered."""
    def make(side):
        def value(key):
            x = np.linspace(0, 1, 16, dtype=np.float32)
            if side == "b":
                x[[2, 5]] = np.nan
            return x
        return value
    result = _diff(record(tmp_path / "a", ["s"], _program("softmax", make("a"))),
                   record(tmp_path / "b", ["s"], _program("softmax", make("b"))))
    row = _row(result, "softmax")
    assert "NaN 2 in B" in row and "1.000000" not in row
    first = describe_first(result)
    assert "NaN 2 in B" in first and "passes with atol" not in first
    tensor = result.to_json()["stages"][0]["tensors"][0]
    assert tensor["nonfinite_b"] == {"nan": 2, "inf": 0} and tensor["max_abs_diff"] is None


def test_integer_images_out_of_tolerance_are_diverged_not_similar(tmp_path):
    """A uint8 image 61 levels off (a colour swap inherited) is DIVERGED: no 'similar' for integers."""
    rng = np.random.default_rng(0)
    img = rng.integers(100, 200, (8, 8, 3), dtype=np.uint8)
    swapped = img.copy()
    swapped[0, 0] = img[0, 0] + np.array([61, 0, 0], np.uint8)
    result = _diff(record(tmp_path / "a", ["s"], _program("resize", lambda key: img)),
                   record(tmp_path / "b", ["s"], _program("resize", lambda key: swapped)))
    assert result.stages[0].status == "diverged" and result.verdict == "DIVERGED" and result.exit_code == 1


def test_only_similar_stages_give_a_similar_verdict_and_exit_3(tmp_path):
    """When nothing is worse than similar, the verdict word is SIMILAR and the exit code 3."""
    x = np.linspace(1, 2, 1000, dtype=np.float32)
    result = _diff(record(tmp_path / "a", ["s"], _program("infer", lambda key: x)),
                   record(tmp_path / "b", ["s"], _program("infer", lambda key: x * np.float32(1.002))))
    assert result.verdict == "SIMILAR" and result.exit_code == 3 and not result
    assert render(result).rstrip().endswith("SIMILAR")
    assert result.to_json()["verdict"] == "SIMILAR"


def test_stats_mode_channel_swap_is_never_aligned(tmp_path):
    """R and B planes swapped keep min/max/mean/std; the sketch's sampled values make it diverged."""
    rng = np.random.default_rng(1)
    rgb = rng.random((16, 16, 3), dtype=np.float32)
    a = record(tmp_path / "a", ["s"], _program("to_rgb", lambda key: rgb), mode="stats")
    b = record(tmp_path / "b", ["s"], _program("to_rgb", lambda key: np.ascontiguousarray(rgb[..., ::-1])),
               mode="stats")
    result = _diff(a, b)
    assert result.stages[0].status == "diverged" and not result
    row = _row(result, "to_rgb")
    assert "DIVERGED" in row and ">=" in row


def test_b_only_stage_warning_names_b_stage_without_marker(tmp_path):
    """A B stage left unpaired by a stage map is named as B names it, with no internal marker."""
    prog = _program("resize", lambda key: np.zeros(3, np.uint8))

    def prog_b(key):
        prog(key)
        with bmtrace.trace_stage("resize_v2") as st:
            st.output(np.zeros(3, np.uint8))
    result = _diff(record(tmp_path / "a", ["s"], prog), record(tmp_path / "b", ["s"], prog_b),
                   stage_map={"resize": "resize_v2"})
    assert "stages only in run B: resize" in result.warnings
    assert not any("B:resize" in w for w in result.warnings)


def _golden_runs(tmp_path):
    def make(side):
        def run(key):
            img = np.arange(48, dtype=np.uint8).reshape(4, 4, 3)
            with bmtrace.trace_stage("decode") as st:
                st.output(img)
            with bmtrace.trace_stage("resize") as st:
                st.input(img=img)
                st.output(img[::2, ::2] + (1 if side == "b" and key == "b.jpg" else 0))
            x = np.linspace(-1, 1, 12, dtype=np.float32) * (1.0001 if side == "b" else 1.0)
            with bmtrace.trace_stage("infer") as st:
                st.output(x)
        return run
    return (record(tmp_path / "a", ["a.jpg", "b.jpg"], make("a")),
            record(tmp_path / "b", ["a.jpg", "b.jpg"], make("b")))


def test_text_table_matches_the_golden_file(tmp_path):
    """The stage table of a fixed pair of runs is exactly the committed golden text."""
    result = _diff(*_golden_runs(tmp_path))
    with open(os.path.join(GOLDEN, "table.txt"), encoding="utf-8") as f:
        assert render_table(result) + "\n" == f.read()


def test_saved_document_renders_the_same_text_and_html(tmp_path):
    """from_json(to_json(r)) renders the same text report and the same HTML page as r itself."""
    pytest.importorskip("matplotlib")
    from bmtrace.report.html import render_html

    result = _diff(*_golden_runs(tmp_path), isolate=False)
    again = DiffResult.from_json(result.to_json())
    assert render(again) == render(result)
    assert again.to_json() == result.to_json()

    def page(r):
        return re.sub(r"<footer>.*?</footer>", "", render_html(r))
    assert page(again) == page(result)


def test_input_that_differs_before_the_first_traced_stage_is_said_so(tmp_path):
    """When the first traced stage's input already differs, the line says it arose before that stage."""
    def make(side):
        def run(key):
            img = np.arange(48, dtype=np.uint8).reshape(4, 4, 3) + (1 if side == "b" else 0)
            with bmtrace.trace_stage("resize") as st:
                st.input(img=img)
                st.output(img[::2, ::2])
        return run
    result = _diff(record(tmp_path / "a", ["s"], make("a")), record(tmp_path / "b", ["s"], make("b")))
    assert result.first_divergence.before_stage
    assert "before stage resize" in describe_first(result) and "trace the step that makes img" in describe_first(result)
    assert result.to_json()["first_divergence"]["arose_before_stage"] is True
