"""Whole preprocessing pipelines with one planted cause: only that cause is hinted, at its stage.

A small walker stands in for the diff: it visits the stages in order, explains only those whose
outputs differ, and passes on what the diff knows (inputs already differ; a representation mapping
found upstream), as the diff engine does through Evidence.inherited.
"""
import numpy as np
import pytest

from bmtrace.compare.representation import find_mapping
from bmtrace.explain import Inherited, explain_tensor_pair

cv2 = pytest.importorskip("cv2")
Image = pytest.importorskip("PIL.Image")
tf = pytest.importorskip("torchvision.transforms.functional")
torch = pytest.importorskip("torch")

MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


def _normalize(rgb, slip=1.0):
    x = rgb.astype(np.float32) / 255 / slip
    return ((x - np.float32(MEAN)) / np.float32(STD)).transpose(2, 0, 1)[None].astype(np.float32)


def _softmax(logits, naive=False):
    with np.errstate(over="ignore", invalid="ignore"):  # the naive one overflows: that is the point
        e = np.exp(logits) if naive else np.exp(logits - logits.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)


def original(bgr, logits):
    """The PyTorch program: RGB, PIL resize (antialias), ToTensor+Normalize, stable softmax."""
    rgb = bgr[..., ::-1].copy()
    resized = np.asarray(Image.fromarray(rgb).resize((96, 96), Image.BILINEAR))
    return [("read", {}, rgb), ("resize", {"img": rgb}, resized),
            ("normalize", {"img": resized}, _normalize(resized)),
            ("softmax", {"x": logits}, _softmax(logits))]


def port(bgr, logits, resize="cv2", convert_late=False, slip=1.0, naive_softmax=False):
    """The port: cv2 image, cv2 or PIL-like resize, (alpha, beta) normalisation, numpy softmax."""
    img = bgr if convert_late else bgr[..., ::-1].copy()
    if resize == "cv2":
        resized = cv2.resize(img, (96, 96), interpolation=cv2.INTER_LINEAR)
    else:
        resized = np.asarray(Image.fromarray(img).resize((96, 96), Image.BILINEAR))
    stages = [("read", {}, img), ("resize", {"img": img}, resized)]
    rgb = cv2.cvtColor(resized, cv2.COLOR_BGR2RGB) if convert_late else resized
    return stages + [("normalize", {"img": rgb}, _normalize(rgb, slip)),
                     ("softmax", {"x": logits}, _softmax(logits, naive_softmax))]


def walk(stages_a, stages_b, colours=None):
    """[(stage, cause)] for every hint, explaining only the stages whose outputs differ.

    colours: stage -> (colour A declares, colour B declares) in the outputs' meta.
    """
    found, mapping, differ = [], None, False
    for (name, in_a, out_a), (_, in_b, out_b) in zip(stages_a, stages_b):
        declared = (colours or {}).get(name)
        meta_a, meta_b = ({"color": declared[0]}, {"color": declared[1]}) if declared else (None, None)
        if out_a.shape == out_b.shape and np.array_equal(out_a, out_b, equal_nan=True):
            differ, mapping = False, None
            continue
        hints = explain_tensor_pair(out_a, out_b, stage=name, tensor="out", inputs_a=in_a, inputs_b=in_b,
                                    meta_a=meta_a, meta_b=meta_b, budget_s=5,
                                    inherited=Inherited(inputs_differ=differ if in_a else None,
                                                        mapping=mapping))
        found += [(name, h.cause) for h in hints if not h.details.get("inherited")]
        mapping = find_mapping(out_a, out_b, meta_a, meta_b, prefer=mapping)
        differ = True
    return found


@pytest.fixture(scope="module")
def inputs(photo_bgr):
    logits = np.random.default_rng(0).normal(0, 40, (1, 1000)).astype(np.float32)
    return cv2.resize(photo_bgr, (160, 192), interpolation=cv2.INTER_AREA), logits


def test_planted_resize_is_the_only_hint(inputs):
    """PIL resize (A) vs cv2 resize (B): one resize_method hint at resize, nothing downstream."""
    assert walk(original(*inputs), port(*inputs)) == [("resize", "resize_method")]


def test_aligned_control_resizing_bgr_then_converting_has_no_hint(inputs):
    """B resizes the BGR image with A's method and converts afterwards: nothing is introduced."""
    bgr, logits = inputs
    a = original(bgr, logits)
    a[1] = ("resize", a[1][1], np.asarray(Image.fromarray(a[0][2]).resize((96, 96), Image.BILINEAR)))
    b = port(bgr, logits, resize="pil", convert_late=True)
    assert walk(a, b, colours={"read": ("RGB", "BGR"), "resize": ("RGB", "BGR")}) == []


def test_undeclared_bgr_read_is_one_channel_order_hint(inputs):
    """Without colour meta, the same aligned control names the BGR read once, and nothing after it."""
    bgr, logits = inputs
    a = original(bgr, logits)
    b = port(bgr, logits, resize="pil", convert_late=True)
    assert walk(a, b) == [("read", "channel_order")]


def test_planted_255_slip_is_hinted_at_normalize(inputs):
    """An extra /255 at normalize (B) is hinted at normalize only, not at resize."""
    bgr, logits = inputs
    found = walk(original(bgr, logits), port(bgr, logits, resize="pil", slip=255.0))
    assert [stage for stage, _ in found] == ["normalize"]
    assert found[0][1] in ("normalization", "value_scale")


def test_planted_naive_softmax_is_nonfinite_only(inputs):
    """np.exp without max subtraction (B): one nonfinite hint at softmax."""
    bgr, logits = inputs
    assert walk(original(bgr, logits), port(bgr, logits, resize="pil", naive_softmax=True)) == \
        [("softmax", "nonfinite")]
