"""The catalogue and runner: one signature, precedence, inheritance, carried mappings, one-line hints."""
import numpy as np
import pytest

from bmtrace.compare.representation import find_mapping
from bmtrace.explain import Evidence, Hint, Inherited, catalogue, explain, explain_tensor_pair
from bmtrace.explain.catalogue import Diagnosis
from bmtrace.explain.run import MAX_MESSAGE

from .conftest import causes

cv2 = pytest.importorskip("cv2")
Image = pytest.importorskip("PIL.Image")
tf = pytest.importorskip("torchvision.transforms.functional")


def test_every_entry_has_one_signature():
    """Every catalogue module exposes diagnose(ev) and returns a list for an empty Evidence."""
    for entry in catalogue.PAIR + catalogue.STAGE:
        assert entry.run(Evidence(stage="s")) == []


def test_a_new_diagnosis_is_one_module_and_one_line(monkeypatch, photo_rgb):
    """Appending one Diagnosis whose module has diagnose(ev) makes its hint appear."""
    class Always:
        @staticmethod
        def diagnose(ev):
            return [Hint("padding", "planted", 1.0)]
    monkeypatch.setattr(catalogue, "PAIR", catalogue.PAIR + (Diagnosis("planted", Always),))
    noisy = np.clip(photo_rgb + 3, 0, 255).astype(np.uint8)
    assert "planted" in [h.message for h in explain(Evidence(stage="s", a=photo_rgb, b=noisy))]


def test_carried_mapping_means_nothing_introduced(photo_rgb, photo_bgr):
    """A stage whose output differs only by the carried 'B is BGR' gets no hint at all."""
    mapping = find_mapping(photo_rgb, photo_bgr)
    a, b = cv2.resize(photo_rgb, (224, 224)), cv2.resize(photo_bgr, (224, 224))
    ev = Evidence(stage="resize", a=a, b=b, inherited=Inherited(inputs_differ=True, mapping=mapping))
    assert explain(ev) == []
    assert causes(explain(Evidence(stage="resize", a=a, b=b))) == ["channel_order"]


def test_carried_channel_order_is_inherited_beside_what_the_stage_changed(photo_rgb, photo_bgr):
    """B is BGR from upstream (inputs equal under that mapping) and resizes another way: a channel_order
    hint on the output is marked inherited and capped; the stage's own cause keeps its confidence."""
    mapping = find_mapping(photo_rgb, photo_bgr)
    a = tf.resize(Image.fromarray(photo_rgb), [96, 128], antialias=True)
    a = np.asarray(a)
    b = cv2.resize(photo_bgr, (128, 96), interpolation=cv2.INTER_NEAREST)
    ev = Evidence(stage="resize", a=a, b=b, inputs_a={"img": photo_rgb}, inputs_b={"img": photo_bgr},
                  inherited=Inherited(inputs_differ=False, mapping=mapping))
    hints = explain(ev)
    order = [h for h in hints if h.cause == "channel_order"]
    assert order, causes(hints)
    for hint in order:
        assert hint.details["inherited"] is True and hint.confidence <= 0.5
        assert hint.message.startswith("inherited from upstream: ")
    own = [h for h in hints if h.cause != "channel_order"]
    assert own and all(not h.details.get("inherited") for h in own), causes(hints)


def test_inherited_channel_swap_is_marked_inherited(photo_rgb, photo_bgr):
    """Inputs already BGR vs RGB and the stage passes it on: channel_order marked inherited."""
    a, b = cv2.resize(photo_rgb, (224, 224)), cv2.resize(photo_bgr, (224, 224))
    hints = explain_tensor_pair(a, b, stage="resize", tensor="out", inputs_a={"img": photo_rgb},
                                inputs_b={"img": photo_bgr}, inherited=Inherited(inputs_differ=True),
                                budget_s=5)
    assert causes(hints) == ["channel_order"]
    assert hints[0].details["inherited"] is True and hints[0].message.startswith("inherited")


def test_nms_is_dropped_when_inputs_differ():
    """Detections that differ near NMS while the stage's inputs already differ: no nms hint."""
    a = np.array([[10, 10, 60, 60, 0.9, 0], [200, 200, 250, 250, 0.3, 0], [30, 12, 80, 62, 0.5, 1]],
                 np.float32)
    b = a[:2]
    with_inputs = explain_tensor_pair(a, b, stage="nms", tensor="det", inherited={"inputs_differ": True})
    assert "nms" not in causes(with_inputs)
    assert causes(explain_tensor_pair(a, b, stage="nms", tensor="det")) == ["nms"]


def test_long_messages_are_one_line_with_details():
    """An output_order hint over many outputs stays one line, the full text moves to details."""
    rng = np.random.default_rng(0)
    outs = {"output_with_a_long_name_%02d" % i: rng.normal(size=(4, 8)).astype(np.float32) for i in range(7)}
    names = list(outs)
    shifted = {names[i]: outs[names[(i + 1) % 7]] for i in range(7)}
    from bmtrace.explain import explain_stage_outputs
    hints = explain_stage_outputs(outs, shifted, stage="infer")
    assert causes(hints) == ["output_order"]
    assert len(hints[0].message) <= MAX_MESSAGE and "\n" not in hints[0].message
    assert "full_message" in hints[0].details


def test_equal_constants_are_never_advised_to_change(photo_rgb):
    """Both sides normalise with ImageNet constants, inputs differ in brightness: no 'use the constants'."""
    brighter = cv2.convertScaleAbs(photo_rgb, alpha=0.8, beta=20)
    norm = lambda x: tf.normalize(tf.to_tensor(x), (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)).numpy()
    hints = explain_tensor_pair(norm(photo_rgb), norm(brighter), stage="normalize", tensor="out",
                                inputs_a={"img": photo_rgb}, inputs_b={"img": brighter}, budget_s=5)
    assert not any("constants" in h.message for h in hints)
    assert "normalization" not in causes(hints)


def test_resize_of_bgr_then_converted_matches_under_the_mapping(photo_rgb, photo_bgr):
    """B resizes the BGR image with cv2 and converts after: 'B matches cv2 INTER_LINEAR on the BGR image'."""
    a = np.asarray(Image.fromarray(photo_rgb).resize((224, 224), Image.BILINEAR))
    b = cv2.cvtColor(cv2.resize(photo_bgr, (224, 224)), cv2.COLOR_BGR2RGB)
    mapping = find_mapping(photo_rgb, photo_bgr, {"color": "RGB"}, {"color": "BGR"})
    hints = explain_tensor_pair(a, b, stage="resize", tensor="out", inputs_a={"img": photo_rgb},
                                inputs_b={"img": photo_bgr}, budget_s=5,
                                inherited=Inherited(inputs_differ=True, mapping=mapping))
    resize = [h for h in hints if h.cause == "resize_method"]
    assert resize and "B matches cv2 INTER_LINEAR on the BGR image" in resize[0].message
    assert "none" not in resize[0].message


def test_recorded_resize_parameters_name_the_difference():
    """Without input images, differing recorded interpolation parameters still give one resize hint."""
    rng = np.random.default_rng(0)
    a = rng.integers(0, 255, (32, 32, 3), dtype=np.uint8)
    b = np.clip(a.astype(int) + rng.integers(-2, 3, a.shape), 0, 255).astype(np.uint8)
    hints = explain_tensor_pair(a, b, stage="resize", tensor="out",
                                call_a={"op": "cv2.resize", "params": {"interpolation": "INTER_LINEAR"}},
                                call_b={"op": "cv2.resize", "params": {"interpolation": "INTER_NEAREST"}})
    assert causes(hints) == ["resize_method"]
    assert "INTER_NEAREST" in hints[0].message


def test_deduplicate_merges_samples():
    """The same (stage, tensor, cause) in three samples becomes one record with a sample count."""
    from bmtrace.explain import deduplicate
    records = [{"sample": s, "stage": "decode", "tensor": "out", "cause": "channel_order", "message": "m"}
               for s in ("a.jpg", "b.jpg", "a.jpg")] + \
              [{"sample": "a.jpg", "stage": "resize", "tensor": "out", "cause": "resize_method", "message": "r"}]
    merged = deduplicate(records)
    assert [(m["stage"], m["count"]) for m in merged] == [("decode", 2), ("resize", 1)]
    assert merged[0]["samples"] == ["a.jpg", "b.jpg"]
