"""thresholds, nms, box_clip, padding (box offset) and json_rounding on real postprocessing output."""
import json

import numpy as np
import pytest

from bmtrace.explain import explain_stage_outputs, explain_tensor_pair

from .conftest import causes

torch = pytest.importorskip("torch")
ops = pytest.importorskip("torchvision.ops")

H0, W0 = 512, 600  # the original image the boxes are mapped back to


def _candidates(seed=3, classes=3):
    """Clusters of overlapping candidate boxes with scores in (0.001, 0.95) and classes."""
    rng = np.random.default_rng(seed)
    boxes, scores, cls = [], [], []
    for cx, cy in ((80, 90), (220, 120), (150, 260), (300, 300), (60, 330), (400, 200), (500, 420)):
        for _ in range(8):
            w, h = rng.uniform(50, 70), rng.uniform(50, 70)
            x, y = cx + rng.normal(0, 9), cy + rng.normal(0, 9)
            boxes.append([x - w / 2, y - h / 2, x + w / 2, y + h / 2])
            scores.append(rng.uniform(0.001, 0.95))
            cls.append(rng.integers(0, classes))
    return np.array(boxes, np.float32), np.array(scores, np.float32), np.array(cls, np.float32)


def _postprocess(conf, iou, agnostic=False, multi_label=False, seed=3):
    """YOLOv5-style: confidence filter, then torchvision (batched) NMS; rows x1 y1 x2 y2 score class."""
    boxes, scores, cls = _candidates(seed)
    if multi_label:  # every candidate also scores 0.6x as its next class
        boxes = np.concatenate([boxes, boxes])
        scores = np.concatenate([scores, scores * 0.6])
        cls = np.concatenate([cls, (cls + 1) % 3])
    keep = scores >= conf
    b, s, c = torch.from_numpy(boxes[keep]), torch.from_numpy(scores[keep]), torch.from_numpy(cls[keep])
    idx = ops.nms(b, s, iou) if agnostic else ops.batched_nms(b, s, c.long(), iou)
    idx = idx.numpy()
    return np.concatenate([boxes[keep][idx], scores[keep][idx, None], cls[keep][idx, None]], axis=1)


def test_conf_025_vs_0001_is_thresholds():
    """conf 0.25 (A) vs 0.001 (B): B's extra boxes all score below A's lowest: a confidence threshold."""
    a, b = _postprocess(0.25, 0.45), _postprocess(0.001, 0.45)
    hints = explain_tensor_pair(a, b, stage="postprocess", tensor="det")
    assert causes(hints) == ["thresholds"]
    assert hints[0].details["b_kept_scores"] and max(hints[0].details["b_kept_scores"]) < 0.25
    assert "confidence threshold" in hints[0].message


def test_multi_label_is_thresholds():
    """multi_label=True (B) keeps a box twice with two classes; A keeps it once."""
    a, b = _postprocess(0.25, 0.45), _postprocess(0.25, 0.45, multi_label=True)
    hints = explain_tensor_pair(a, b, stage="postprocess", tensor="det")
    assert causes(hints) == ["thresholds"]
    assert hints[0].details.get("b_multilabel")


def test_agnostic_vs_per_class_nms_is_nms():
    """torchvision nms over all classes (A) vs batched_nms per class (B) is an nms hint."""
    a, b = _postprocess(0.25, 0.45, agnostic=True), _postprocess(0.25, 0.45)
    hints = explain_tensor_pair(a, b, stage="postprocess", tensor="det")
    assert causes(hints) == ["nms"]
    assert hints[0].details["per_class_side"] == "B"


def test_different_detector_is_neither_thresholds_nor_nms():
    """Detections of a different candidate set (another seed) are not explained by thresholds or NMS."""
    a, b = _postprocess(0.25, 0.45), _postprocess(0.25, 0.45, seed=9)
    assert not {"thresholds", "nms"} & set(causes(explain_tensor_pair(a, b, stage="p", tensor="det")))


def _scale_boxes(boxes, clip_hi, exact_pad=True, new=640):
    """YOLOv5 scale_boxes: undo the letterbox (pad, gain) and clip to the image with numpy."""
    gain = min(new / H0, new / W0)
    if exact_pad:
        pad = ((new - W0 * gain) / 2, (new - H0 * gain) / 2)
    else:  # pad from the rounded resized size, as the letterbox itself computed it
        pad = ((new - round(W0 * gain)) / 2, (new - round(H0 * gain)) / 2)
    out = boxes.copy()
    out[:, [0, 2]] = (out[:, [0, 2]] - pad[0]) / gain
    out[:, [1, 3]] = (out[:, [1, 3]] - pad[1]) / gain
    if clip_hi is not None:
        out[:, [0, 2]] = out[:, [0, 2]].clip(0, W0 - 1 + clip_hi)
        out[:, [1, 3]] = out[:, [1, 3]].clip(0, H0 - 1 + clip_hi)
    return out


def _letterboxed_detections():
    """Detections in 640x640 letterbox space, many touching or crossing the image border."""
    rng = np.random.default_rng(5)
    x1 = rng.uniform(-20, 600, 80)
    y1 = rng.uniform(40, 560, 80)
    boxes = np.stack([x1, y1, x1 + rng.uniform(30, 120, 80), y1 + rng.uniform(30, 120, 80)], 1)
    return np.concatenate([boxes, rng.uniform(0.3, 0.9, (80, 1)), np.zeros((80, 1))], 1)


def test_clip_to_w_minus_1_is_box_clip():
    """numpy clip to w/h (A) vs w-1/h-1 (B) moves only border boxes: box_clip, no precision."""
    det = _letterboxed_detections()
    a, b = det.copy(), det.copy()
    a[:, :4], b[:, :4] = _scale_boxes(det[:, :4], 1), _scale_boxes(det[:, :4], 0)
    hints = explain_tensor_pair(a, b, stage="scale_boxes", tensor="det", meta_a={"image_size": [H0, W0]})
    assert causes(hints) == ["box_clip"]
    assert hints[0].details["clip"]["x"]["b_hi"] == W0 - 1
    assert hints[0].residual == 0.0


def test_no_clip_is_box_clip():
    """Unclipped boxes (A) vs clipped to w/h (B) is box_clip, without the image size given."""
    det = _letterboxed_detections()
    a, b = det.copy(), det.copy()
    a[:, :4], b[:, :4] = _scale_boxes(det[:, :4], None), _scale_boxes(det[:, :4], 1)
    hints = explain_tensor_pair(a, b, stage="scale_boxes", tensor="det")
    assert causes(hints) == ["box_clip"]
    assert hints[0].details["clip"]["x"]["a_hi"] is None


def test_rounded_pad_and_clip_name_padding_and_box_clip():
    """The YOLOv5 field case: pad from a rounded size plus clip to w-1: padding (offset) and box_clip."""
    det = _letterboxed_detections()
    a, b = det.copy(), det.copy()
    a[:, :4] = _scale_boxes(det[:, :4], 1, exact_pad=True)
    b[:, :4] = _scale_boxes(det[:, :4], 0, exact_pad=False)
    hints = explain_tensor_pair(a, b, stage="scale_boxes", tensor="det", meta_a={"image_size": [H0, W0]})
    assert sorted(causes(hints)) == ["box_clip", "padding"]
    assert "precision" not in causes(hints)


def test_unrelated_box_jitter_is_not_box_clip():
    """Random sub-pixel jitter of every box is neither a clip nor a pad offset."""
    det = _letterboxed_detections()
    a = det.copy()
    a[:, :4] = _scale_boxes(det[:, :4], 1)
    b = a.copy()
    b[:, :4] += np.random.default_rng(1).normal(0, 0.7, b[:, :4].shape)
    assert not {"box_clip", "padding", "precision"} & set(
        causes(explain_tensor_pair(a, b, stage="scale_boxes", tensor="det")))


def test_coco_json_rounding_is_json_rounding():
    """COCO results written with bbox rounded to 3 decimals and score to 5 (json round trip)."""
    det = _letterboxed_detections()
    boxes = _scale_boxes(det[:, :4], 1)
    full = [{"bbox": [float(v) for v in (x1, y1, x2 - x1, y2 - y1)], "score": float(s), "category_id": 1}
            for (x1, y1, x2, y2), s in zip(boxes, det[:, 4])]
    rounded = json.loads(json.dumps([dict(r, bbox=[round(v, 3) for v in r["bbox"]], score=round(r["score"], 5))
                                     for r in full]))
    hints = explain_tensor_pair(full, rounded, stage="eval", tensor="results")
    assert causes(hints) == ["json_rounding"]
    assert hints[0].details["boxes"]["decimals"] == 3 and hints[0].details["scores"]["decimals"] == 5


def test_int_cast_boxes_is_json_rounding():
    """Boxes cast with astype(int) in the port's eval output are json_rounding (truncated)."""
    det = _letterboxed_detections()
    a = det.copy()
    a[:, :4] = _scale_boxes(det[:, :4], 1)
    b = a.copy()
    b[:, :4] = a[:, :4].astype(int)
    hints = explain_tensor_pair(a, b, stage="eval", tensor="det")
    assert causes(hints) == ["json_rounding"]
    assert hints[0].details["boxes"]["kind"] == "int"


def test_json_rounding_with_other_changes_is_silent():
    """Rounded boxes whose scores also changed beyond rounding are not json_rounding."""
    det = _letterboxed_detections()
    b = det.copy()
    b[:, :4] = np.round(det[:, :4], 3)
    b[:, 4] = det[:, 4] * 0.9
    assert "json_rounding" not in causes(explain_tensor_pair(det, b, stage="eval", tensor="det"))


def test_boxes_near_the_threshold_after_an_upstream_change_are_not_thresholds():
    """Same conf threshold, scores jittered upstream (inputs differ): a box crossing 0.25 is no hint."""
    boxes, scores, cls = _candidates()
    jitter = scores * np.float32(1.03)
    keep_a, keep_b = scores >= 0.25, jitter >= 0.25
    assert keep_a.sum() != keep_b.sum()  # precondition: a box crosses the threshold
    rows = lambda k, s: np.concatenate([boxes[k], s[k, None], cls[k, None]], axis=1)
    hints = explain_tensor_pair(rows(keep_a, scores), rows(keep_b, jitter), stage="filter", tensor="det",
                                inherited={"inputs_differ": True})
    assert "thresholds" not in causes(hints)
