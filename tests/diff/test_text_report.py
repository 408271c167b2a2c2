"""The text report: verdict line, table, colours, progress bar."""

import bmtrace
from bmtrace import diff
from bmtrace.report.text import describe_first, render_table


def test_one_line_for_missing_samples_says_not_aligned(runs):
    """Unpaired calls without a value divergence read NOT ALIGNED, naming the stages."""
    text = str(diff(runs("a", ["x.jpg", "y.jpg"]), runs("b", ["x.jpg"])))
    assert text.startswith("NOT ALIGNED")
    assert "decode" in text


def test_aligned_line(runs):
    """An aligned diff reads ALIGNED with the stage count."""
    assert str(diff(runs("a"), runs("b"))).startswith("ALIGNED: 4/4 stages aligned")


def test_first_divergence_sentence_gives_the_metrics(runs):
    """The first-divergence sentence names the tensor, its max abs diff and the passing atol."""
    text = describe_first(diff(runs("a"), runs("b", resize_shift=2)))
    assert "stage resize" in text and "output out" in text
    assert "max abs diff 2" in text
    assert "atol >= 2" in text


def test_error_stage_sentence_quotes_the_exception(runs):
    """A stage that raised is described with its exception and side."""
    text = describe_first(diff(runs("a"), runs("b", fail_on="a.jpg")))
    assert "RuntimeError" in text and "run B" in text and "out of memory" in text


def test_colour_codes_only_when_asked(runs):
    """render_table(color=True) adds ANSI codes; the default does not."""
    result = diff(runs("a"), runs("b", resize_shift=2))
    assert "\x1b[" in render_table(result, color=True)
    assert "\x1b[" not in render_table(result)


def test_long_stage_names_are_shortened_to_the_width(tmp_path):
    """A 200-character stage name is cut so the row fits the terminal width."""
    import numpy as np

    from .diff_helpers import record

    name = "s" * 200

    def prog(key):
        with bmtrace.trace_stage(name) as st:
            st.output(np.zeros(2))

    result = diff(record(tmp_path / "a", ["k"], prog), record(tmp_path / "b", ["k"], prog))
    assert max(len(line) for line in render_table(result, width=80).splitlines()) <= 80


def test_progress_callback_reaches_the_total(runs):
    """diff(progress=...) reports every call pair, ending at done == total."""
    seen = []
    diff(runs("a"), runs("b"), progress=lambda done, total: seen.append((done, total)))
    assert seen[-1][0] == seen[-1][1] == 12
    assert [d for d, _ in seen] == list(range(1, 13))
