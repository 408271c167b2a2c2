"""Diff calls bmtrace.explain on diverged pairs, puts hints in the result, and survives its bugs."""
import pytest

import bmtrace
from bmtrace.report.text import render
from bmtrace import diff
from bmtrace.report.json_doc import HINT_KEYS
from .diff_helpers import record, sample_image

explain = pytest.importorskip("bmtrace.explain")


def _decoder(swap, touch=False):
    def run(key):
        img = sample_image(key)
        if swap:
            img = img[..., ::-1].copy()
        if touch:
            img[0, 0, 0] ^= 1  # one pixel off as well: no longer a pure change of representation
        with bmtrace.trace_stage("decode") as st:
            st.output(img)
    return run


@pytest.fixture
def swapped(tmp_path):
    """Run A decodes RGB, run B BGR with one pixel off: the channel-order port bug plus a real difference."""
    return (record(tmp_path / "a", ["x.jpg", "y.jpg"], _decoder(False)),
            record(tmp_path / "b", ["x.jpg", "y.jpg"], _decoder(True, touch=True)))


def test_channel_swap_gets_a_channel_order_hint(swapped):
    """A BGR/RGB swap at decode that is not exact is explained with cause channel_order."""
    result = diff(*swapped)
    causes = {(h["stage"], h["tensor"], h["cause"]) for h in result.hints}
    assert ("decode", "out", "channel_order") in causes


def test_exact_channel_swap_is_a_representation_not_a_divergence(tmp_path):
    """B exactly A in BGR: the stage is aligned, its row says 'equal under representation', no hint."""
    result = diff(record(tmp_path / "a", ["x.jpg"], _decoder(False)), record(tmp_path / "b", ["x.jpg"], _decoder(True)))
    assert result and result.hints == []
    (tensor,) = result.stages[0].tensors
    assert tensor.status == "equal_under_representation" and tensor.representation["channels_reversed"]
    assert "equal under representation" in render(result)


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

    monkeypatch.setattr(explain, "explain", broken)
    result = diff(*swapped)
    assert not result
    assert result.first_divergence.stage == "decode"
    assert any("ZeroDivisionError" in w for w in result.warnings)


def test_hints_are_printed_under_the_table(swapped):
    """The text report lists hints after the stage table."""
    text = render(diff(*swapped))
    assert text.index("channel_order") > text.index("max abs diff")


def test_representation_reaching_a_stage_that_minds_it_gets_one_hint(tmp_path):
    """B's normalize output is A's in BGR (a finding), infer's output then differs: one channel_order hint
    at infer saying it receives the other representation; no hint at normalize."""
    import numpy as np

    def program(port):
        def run(key):
            img = sample_image(key)
            with bmtrace.trace_stage("normalize") as st:
                st.input(img=img)
                x = ((img[..., ::-1] if port else img) / 255.0).astype(np.float32)
                st.output(x)
            with bmtrace.trace_stage("infer") as st:
                st.input(x=x)
                st.output(x.mean(axis=(0, 1)))
        return run
    result = diff(record(tmp_path / "a", ["x.jpg"], program(False)), record(tmp_path / "b", ["x.jpg"], program(True)))
    assert result.first_divergence.stage == "infer"
    assert [(h["stage"], h["cause"]) for h in result.hints] == [("infer", "channel_order")]
    assert "receives x as A's values in another representation" in result.hints[0]["message"]
