"""A colour order carried down a sample ends where the port converts back, and hints of a stage whose
inputs already differ say they may be inherited (helper-27's OpenCV port of a torchvision classifier)."""
import numpy as np
import pytest

import bmtrace
from bmtrace import diff
from .diff_helpers import record, sample_image

KEYS = ["x.jpg", "y.jpg"]


def _smooth(key):
    # smooth enough that a 1-level resize difference stays small next to swapping R and B
    img = sample_image(key, (48, 64)).astype(np.float32)
    img = (img + np.roll(img, 1, 0) + np.roll(img, 1, 1) + np.roll(img, 1, (0, 1))) / 4
    img[..., 0] = np.linspace(0, 255, 64)[None, :]  # R and B far apart
    img[..., 2] = 255 - img[..., 0]
    return img.astype(np.uint8)


def _pipeline(port):
    """decode -> resize -> normalize. The port decodes BGR, resizes one level off, and converts back to
    RGB inside its normalize (cvtColor there, as vendor samples often do)."""
    def run(key):
        img = _smooth(key)
        if port:
            img = img[..., ::-1].copy()
        with bmtrace.trace_stage("decode") as st:
            st.output(img)
        with bmtrace.trace_stage("resize") as st:
            st.input(img=img)
            small = img[::2, ::2]
            if port:  # another interpolation: one level off
                small = np.clip(small.astype(np.int16) + 1, 0, 255).astype(np.uint8)
            st.output(np.ascontiguousarray(small))
        with bmtrace.trace_stage("normalize") as st:
            st.input(img=small)
            rgb = small[..., ::-1] if port else small
            st.output(rgb.astype(np.float32) / 255.0)
    return run


@pytest.fixture
def runs(tmp_path):
    return record(tmp_path / "a", KEYS, _pipeline(False)), record(tmp_path / "b", KEYS, _pipeline(True))


def test_the_carried_colour_order_ends_where_the_port_converts_back(runs):
    """normalize's output is RGB on both sides: judged as recorded (max |d| 1/255), not against A's
    channel-reversed values (which differ by hundreds of levels)."""
    a, b = bmtrace.open_run(runs[0]), bmtrace.open_run(runs[1])
    result = diff(*runs, explain=False)
    for entry in result.stages:
        if entry.stage != "normalize":
            continue
        (out,) = [t for t in entry.tensors if t.role == "output"]
        xa = a.calls(stage="normalize", sample=entry.sample)[0].outputs[0].load()
        xb = b.calls(stage="normalize", sample=entry.sample)[0].outputs[0].load()
        assert out.representation is None
        assert out.max_abs_diff == pytest.approx(float(np.abs(xa - xb).max()))
        assert out.max_abs_diff < 2 / 255.0
        (img,) = [t for t in entry.tensors if t.role == "input"]
        assert img.representation is not None and img.representation["channels_reversed"]


def _scaled_model(scale):
    def run(key):
        x = sample_image(key).astype(np.float32) / 255.0 * scale  # B's input already 1.006x A's
        with bmtrace.trace_stage("infer") as st:
            st.input(x=x)
            st.output(x.reshape(-1)[:64] * np.float32(3.0))
    return run


def test_a_hint_of_a_stage_whose_inputs_differ_says_it_may_be_inherited(tmp_path):
    """infer multiplies by the same weight on both sides; its output is 1.006x A's only because its input
    is. The value hint is shown, marked, and capped: it does not tell the user to rescale the model."""
    result = diff(record(tmp_path / "a", KEYS, _scaled_model(1.0)),
                  record(tmp_path / "b", KEYS, _scaled_model(1.006)))
    hints = [h for h in result.hints if h["stage"] == "infer" and h["tensor"] == "out"]
    assert hints, result.hints
    for hint in hints:
        assert hint["message"].startswith("its inputs already differ, so this may be inherited: ")
        assert hint["details"]["inputs_differ"] is True and hint["confidence"] <= 0.5
