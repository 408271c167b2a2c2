"""Diff calls bmtrace.explain on diverged pairs, puts hints in the result, and survives its bugs."""
import pytest

import bmtrace
from bmtrace.report.text import render
from bmtrace import diff
from bmtrace.report.json_doc import HINT_KEYS
from .diff_helpers import record, sample_image

explain = pytest.importorskip("bmtrace.explain")


def _decoder(swap):
    def run(key):
        img = sample_image(key)
        with bmtrace.trace_stage("decode") as st:
            st.output(img[..., ::-1].copy() if swap else img)
    return run


@pytest.fixture
def swapped(tmp_path):
    """Run A decodes RGB, run B BGR: the classic channel-order port bug."""
    return (record(tmp_path / "a", ["x.jpg", "y.jpg"], _decoder(False)),
            record(tmp_path / "b", ["x.jpg", "y.jpg"], _decoder(True)))


def test_channel_swap_gets_a_channel_order_hint(swapped):
    """A BGR/RGB swap at decode is explained with cause channel_order."""
    result = diff(*swapped)
    causes = {(h["stage"], h["tensor"], h["cause"]) for h in result.hints}
    assert ("decode", "out", "channel_order") in causes


def test_hints_carry_the_contract_keys(swapped):
    """Each JSON hint has sample, stage, tensor, cause, message and confidence."""
    hints = diff(*swapped).to_json()["hints"]
    assert hints
    for hint in hints:
        assert set(HINT_KEYS) <= set(hint)
    assert hints[0]["sample"] == "x.jpg"


def test_each_stage_tensor_is_explained_once(swapped):
    """The same divergence in two samples yields one set of hints, not one per sample."""
    hints = diff(*swapped).hints
    assert {h["sample"] for h in hints} == {"x.jpg"}


def test_no_explain_skips_hints(swapped):
    """explain=False (--no-explain) leaves hints empty."""
    assert diff(*swapped, explain=False).hints == []


def test_explain_failure_becomes_a_warning(swapped, monkeypatch):
    """An exception inside explain is reported as a warning and the diff completes."""

    def broken(*args, **kwargs):
        raise ZeroDivisionError("bug in a diagnosis")

    monkeypatch.setattr(explain, "explain_tensor_pair", broken)
    result = diff(*swapped)
    assert not result
    assert result.first_divergence.stage == "decode"
    assert any("ZeroDivisionError" in w for w in result.warnings)


def test_hints_are_printed_under_the_table(swapped):
    """The text report lists hints after the stage table."""
    text = render(diff(*swapped))
    assert text.index("channel_order") > text.index("max abs diff")
