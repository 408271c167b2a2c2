"""A colour order carried down a sample ends where the port converts back, and hints of a stage whose
inputs already differ say they may be inherited (helper-27's OpenCV port of a torchvision classifier)."""
import zlib

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


def _grey_bgr_pipeline(port):
    """A genuine BGR port on near-grey noise images (R and B within 2 levels of G) with a resize of its own
    (nearest against 2x2 averaging): the swap changes about as little as the resize."""
    def run(key):
        rng = np.random.default_rng(zlib.crc32(key.encode()))
        g = rng.integers(0, 256, (48, 64, 1)).astype(np.int16)
        img = np.concatenate([g + rng.integers(-2, 3, g.shape), g, g + rng.integers(-2, 3, g.shape)], 2)
        img = np.clip(img, 0, 255).astype(np.uint8)
        img = img[..., ::-1].copy() if port else img
        with bmtrace.trace_stage("decode") as st:
            st.output(img)
        with bmtrace.trace_stage("resize") as st:
            st.input(img=img)
            if port:
                small = img[::2, ::2]
            else:
                small = ((img[::2, ::2].astype(np.float32) + img[1::2, ::2] + img[::2, 1::2] + img[1::2, 1::2])
                         / 4).astype(np.uint8)
            st.output(np.ascontiguousarray(small))
    return run


def test_a_near_tie_does_not_end_a_genuine_colour_order(tmp_path):
    """On near-grey images the port's BGR and its own resize differ about as much: the carried mapping is
    kept for every sample (a near-tie flipping it sample by sample made the labels disagree)."""
    keys = ["k%d" % i for i in range(8)]
    result = diff(record(tmp_path / "a", keys, _grey_bgr_pipeline(False)),
                  record(tmp_path / "b", keys, _grey_bgr_pipeline(True)), explain=False)
    for entry in result.stages:
        if entry.stage == "resize":
            (out,) = [t for t in entry.tensors if t.role == "output"]
            assert out.representation is not None and out.representation["channels_reversed"], entry.sample


def _normalize_pipeline(port, bug):
    def run(key):
        rng = np.random.default_rng(len(key))
        y, x = np.mgrid[0:48, 0:64]
        img = np.stack([x * 4, y * 5, 255 - x * 4], -1).astype(np.uint8)
        if port:  # another JPEG decoder: one level off on 5% of the pixels
            flip = (rng.random(img.shape) < 0.05) * rng.choice([-1, 1], img.shape)
            img = np.clip(img.astype(np.int16) + flip, 0, 255).astype(np.uint8)
        with bmtrace.trace_stage("decode") as st:
            st.output(img)
        with bmtrace.trace_stage("normalize") as st:
            st.input(img=img)
            x = img.astype(np.float32) / np.float32(255.0)
            if port and bug == "std":
                x = (x - np.float32(0.45)) / np.float32(0.25)
            else:
                x = (x - np.float32(0.45)) / np.float32(0.225)
            st.output(np.ascontiguousarray(x))
    return run


def test_a_stage_s_own_error_is_not_marked_inherited_for_trivially_different_inputs(tmp_path):
    """Inputs one level apart on 5% of pixels cannot make a wrong std: the normalization hint keeps its
    confidence and is not prefixed."""
    result = diff(record(tmp_path / "a", KEYS, _normalize_pipeline(False, "std")),
                  record(tmp_path / "b", KEYS, _normalize_pipeline(True, "std")))
    hints = [h for h in result.hints if h["stage"] == "normalize" and h["tensor"] == "out"]
    assert hints, result.hints
    for hint in hints:
        assert not hint["details"].get("inputs_differ") and hint["confidence"] > 0.5, hint


def test_a_scale_of_the_stage_s_own_is_not_called_inherited_from_a_carried_scale():
    """Carried 'B = A*255' and a stage that divides by 255 twice: its value hint is its own."""
    from bmtrace.compare.representation import find_mapping
    from bmtrace.explain import Evidence, Inherited, explain

    img = np.random.default_rng(0).integers(0, 256, (32, 40, 3)).astype(np.float32)
    carried = find_mapping(img / 255.0, img)
    assert carried is not None and "value_scale" in carried.causes()
    a, b = img / 255.0, img / 255.0 / 255.0
    hints = explain(Evidence(stage="normalize", a=a, b=b, inputs_a={"img": img / 255.0}, inputs_b={"img": img},
                             inherited=Inherited(inputs_differ=False, mapping=carried)))
    assert hints
    assert not any(h.details.get("inherited") for h in hints), [(h.cause, h.message) for h in hints]
