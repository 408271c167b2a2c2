"""output_order (sorted-dict trap, compiler renames) and nms over whole stage outputs."""
import warnings

import numpy as np
import pytest

from bmtrace.explain import explain_stage_outputs

from .conftest import causes

torch = pytest.importorskip("torch")
ort = pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")


class ThreeHeads(torch.nn.Module):
    """A tiny detector-like net with three outputs in bmodel order: pred, conf, anchors."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.conv = torch.nn.Conv2d(3, 4, 3)
        self.fc = torch.nn.Linear(4, 6)

    def forward(self, x):
        y = self.conv(x)
        pooled = y.mean((2, 3))
        return self.fc(pooled), torch.sigmoid(y), pooled * 2


@pytest.fixture(scope="module")
def exported(tmp_path_factory, photo_rgb):
    """The net's torch outputs (A) and onnxruntime session outputs by name (B), on a photo crop."""
    net = ThreeHeads().eval()
    x = torch.from_numpy(photo_rgb[:32, :32].transpose(2, 0, 1).astype(np.float32) / 255)[None]
    path = str(tmp_path_factory.mktemp("onnx") / "heads.onnx")
    names = ["pred", "conf", "anchors"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # the legacy exporter is enough here
        torch.onnx.export(net, (x,), path, input_names=["x"], output_names=names, dynamo=False)
    with torch.no_grad():
        torch_outs = [t.numpy() for t in net(x)]
    session = ort.InferenceSession(path)
    ort_outs = dict(zip(names, session.run(None, {"x": x.numpy()})))
    return names, torch_outs, ort_outs


def _sail_like(ort_outs):
    """Fake of the documented sail.Engine.process result: a dict whose keys come back sorted."""
    return {name: ort_outs[name] for name in sorted(ort_outs)}


def test_sorted_dict_trap_is_output_order(exported):
    """Port takes list(outputs.values()) of sail's name-sorted dict: outputs are permuted."""
    names, torch_outs, ort_outs = exported
    port_values = list(_sail_like(ort_outs).values())
    outputs_a = {"out[%d]" % i: v for i, v in enumerate(torch_outs)}
    outputs_b = {"out[%d]" % i: v for i, v in enumerate(port_values)}
    hints = explain_stage_outputs(outputs_a, outputs_b, stage="infer")
    assert causes(hints) == ["output_order"]
    order = sorted(names)
    expected = {"out[%d]" % i: "out[%d]" % order.index(n) for i, n in enumerate(names)}
    assert hints[0].details["mapping"] == expected
    assert "renamed" not in hints[0].details  # same names on both sides: a permutation only
    assert "get_output_names" in hints[0].message
    assert hints[0].residual < 1e-4


def test_sail_dict_against_torch_tuple_is_output_order(exported):
    """Torch tuple (bmodel order) vs sail's name-sorted dict: detected as a permutation, B sorted."""
    names, torch_outs, ort_outs = exported
    outputs_a = {"out[%d]" % i: v for i, v in enumerate(torch_outs)}
    outputs_b = {"out['%s']" % k: v for k, v in _sail_like(ort_outs).items()}
    hints = explain_stage_outputs(outputs_a, outputs_b, stage="infer")
    assert causes(hints) == ["output_order"]
    assert hints[0].details["b_sorted_by_name"] is True
    assert hints[0].details["mapping"]["out[0]"] == "out['pred']"


def test_compiler_rename_logits_gemm(exported):
    """tpu-mlir renames logits -> logits_Gemm: reported as a rename with the name map."""
    _, _, ort_outs = exported
    hints = explain_stage_outputs({"logits": ort_outs["pred"]}, {"logits_Gemm": ort_outs["pred"] + 1e-7},
                                  stage="infer")
    assert causes(hints) == ["output_order"]
    assert hints[0].details["renamed"] == {"logits": "logits_Gemm"}
    assert "logits -> logits_Gemm" in hints[0].message


def test_same_names_same_tensors_is_silent(exported):
    """torch vs onnxruntime outputs under the same names need no stage hint."""
    names, torch_outs, ort_outs = exported
    assert explain_stage_outputs(dict(zip(names, torch_outs)), ort_outs, stage="infer") == []


def test_unrelated_outputs_are_silent(exported):
    """Outputs that match under no permutation give no output_order hint."""
    names, torch_outs, _ = exported
    rng = np.random.default_rng(0)
    noise = {n: rng.normal(size=v.shape).astype(np.float32) for n, v in zip(names, torch_outs)}
    assert explain_stage_outputs(dict(zip(names, torch_outs)), noise, stage="infer") == []


# --- thresholds / nms ---------------------------------------------------------------------------------------

cv2 = pytest.importorskip("cv2")
ops = pytest.importorskip("torchvision.ops")


def _candidate_boxes():
    """Clusters of overlapping candidate boxes with scores, as a detector emits before NMS."""
    rng = np.random.default_rng(3)
    boxes, scores = [], []
    for cx, cy in ((80, 90), (220, 120), (150, 260), (300, 300), (60, 330)):
        for _ in range(6):
            w, h = rng.uniform(50, 70), rng.uniform(50, 70)
            x, y = cx + rng.normal(0, 9), cy + rng.normal(0, 9)
            boxes.append([x - w / 2, y - h / 2, x + w / 2, y + h / 2])
            scores.append(rng.uniform(0.05, 0.95))
    return np.array(boxes, np.float32), np.array(scores, np.float32)


def _torch_nms(boxes, scores, iou, conf):
    keep_conf = scores >= conf
    b, s = torch.from_numpy(boxes[keep_conf]), torch.from_numpy(scores[keep_conf])
    keep = ops.nms(b, s, iou).numpy()
    return boxes[keep_conf][keep], scores[keep_conf][keep]


def _cv2_nms(boxes, scores, iou, conf):
    xywh = [[float(x1), float(y1), float(x2 - x1), float(y2 - y1)] for x1, y1, x2, y2 in boxes]
    keep = np.array(cv2.dnn.NMSBoxes(xywh, scores.tolist(), conf, iou), dtype=int).reshape(-1)
    return boxes[keep], scores[keep]


def test_torchvision_nms_vs_cv2_nmsboxes_is_iou_thresholds():
    """torchvision.ops.nms (IoU 0.45) vs cv2.dnn.NMSBoxes (IoU 0.6): an IoU threshold difference."""
    boxes, scores = _candidate_boxes()
    ba, sa = _torch_nms(boxes, scores, 0.45, 0.25)
    bb, sb = _cv2_nms(boxes, scores, 0.6, 0.25)
    assert len(ba) != len(bb)  # precondition: the implementations disagree on this input
    hints = explain_stage_outputs({"boxes": ba, "scores": sa}, {"boxes": bb, "scores": sb}, stage="nms")
    assert causes(hints) == ["thresholds"]
    assert hints[0].details["only_in_b"] == len(bb) - hints[0].details["matched"]
    # B (IoU 0.6) keeps boxes A (IoU 0.45) suppressed: their overlaps lie between the thresholds.
    assert all(0.45 <= v <= 0.6 for v in hints[0].details["b_kept_iou"])
    assert hints[0].residual == 0.0


def test_score_threshold_difference_is_thresholds():
    """Nx6 detections kept with score threshold 0.2 (A) vs 0.3 (B): the extra boxes are low-score."""
    boxes, scores = _candidate_boxes()
    ba, sa = _torch_nms(boxes, scores, 0.5, 0.2)
    bb, sb = _torch_nms(boxes, scores, 0.5, 0.3)
    det_a = np.concatenate([ba, sa[:, None], np.zeros((len(ba), 1), np.float32)], axis=1)
    det_b = np.concatenate([bb, sb[:, None], np.zeros((len(bb), 1), np.float32)], axis=1)
    assert len(det_a) > len(det_b)
    hints = explain_stage_outputs({"out": det_a}, {"out": det_b}, stage="postprocess")
    assert causes(hints) == ["thresholds"]
    assert hints[0].details["a_kept_scores"] and min(hints[0].details["a_kept_scores"]) >= 0.2
    assert "a_kept_iou" not in hints[0].details


def test_missing_confident_isolated_box_is_not_nms():
    """B lacks A's most confident box, which overlaps nothing: not an NMS threshold effect."""
    boxes, scores = _candidate_boxes()
    ba, sa = _torch_nms(boxes, scores, 0.45, 0.25)
    top = int(np.argmax(sa))
    bb, sb = np.delete(ba, top, axis=0), np.delete(sa, top)
    assert explain_stage_outputs({"boxes": ba, "scores": sa}, {"boxes": bb, "scores": sb},
                                 stage="nms") == []


def test_partial_permutation_with_one_changed_output(exported):
    """Two outputs swapped while the third also differs in content: the swap is still reported."""
    names, torch_outs, ort_outs = exported
    outputs_a = {"out[%d]" % i: v for i, v in enumerate(torch_outs)}
    outputs_b = {"out[0]": ort_outs["conf"], "out[1]": ort_outs["pred"],
                 "out[2]": -ort_outs["anchors"]}  # out[2] no longer matches anything
    hints = explain_stage_outputs(outputs_a, outputs_b, stage="infer")
    assert causes(hints) == ["output_order"]
    assert hints[0].details["mapping"] == {"out[0]": "out[1]", "out[1]": "out[0]"}
    assert hints[0].details["unmatched_a"] == ["out[2]"]


def test_sigmoid_maps_of_another_model_are_not_output_order():
    """Sigmoid heads of two differently initialised nets (shared ~0.5 offset) pair by nothing."""
    x = torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(0))

    def heads(seed):
        torch.manual_seed(seed)
        convs = [torch.nn.Conv2d(3, 8, 3) for _ in range(3)]
        with torch.no_grad():
            return {"out[%d]" % i: (0.2 * torch.sigmoid(c(x)) + 0.4).numpy() for i, c in enumerate(convs)}
    assert explain_stage_outputs(heads(0), heads(1), stage="infer") == []
