"""Detection comparison on real NMS outputs (torchvision, OpenCV) and hand-built edge cases."""
import json

import numpy as np
import pytest

from bmtrace.predictions import Detections, recognize_value
from bmtrace.predictions.detections import compare_detections, iou_matrix, merge

from .candidates import candidates, cv2_nms, torchvision_nms


def _det(rows, **kw):
    rows = np.asarray(rows, np.float64).reshape(-1, 6)
    return Detections(rows[:, :4], rows[:, 4], rows[:, 5], **kw)


@pytest.fixture(scope="module")
def real():
    """torchvision batched_nms and cv2.dnn.NMSBoxesBatched kept rows on the same seeded candidates."""
    pytest.importorskip("torchvision")
    pytest.importorskip("cv2")
    cand = candidates(seed=3)
    return cand, torchvision_nms(*cand), cv2_nms(*cand)


def test_torchvision_and_cv2_nms_agree(real):
    """The two libraries keep the same boxes here: all matched at IoU 1, nothing missing or extra."""
    _, tv, cv = real
    result = compare_detections(recognize_value(tv), recognize_value(cv))
    assert (result.matched, result.missing, result.extra) == (len(tv), 0, 0)
    assert result.iou_min == pytest.approx(1.0) and result.verdict().agrees


def test_threshold_difference_is_named(real):
    """A port keeping conf >= 0.1 instead of 0.25 adds only boxes below A's lowest score."""
    cand, tv, _ = real
    low = cv2_nms(*cand, conf=0.1)
    result = compare_detections(recognize_value(tv), recognize_value(low))
    assert result.extra > 0 and result.below_extra == result.extra and result.missing == 0
    assert "below A's lowest score" in result.summary()
    assert not result.verdict().agrees


def test_iou_threshold_difference_changes_box_sets(real):
    """NMS at IoU 0.45 vs 0.6 (same conf) yields extra boxes in B that are not below A's lowest score."""
    cand, tv, _ = real
    loose = cv2_nms(*cand, iou=0.6)
    result = compare_detections(recognize_value(tv), recognize_value(loose))
    assert result.extra > 0 and result.below_extra == 0 and result.missing == 0


def test_all_boxes_moved_one_pixel(real):
    """Shifting every box by 1 px: all still match, every one counts as moved, max/mean delta is 1."""
    _, tv, _ = real
    shifted = tv.copy()
    shifted[:, [0, 2]] += 1
    result = compare_detections(recognize_value(tv), recognize_value(shifted))
    assert result.matched == result.moved_1px == len(tv)
    assert result.max_coord_diff == pytest.approx(1.0, abs=1e-4)
    assert result.mean_coord_diff == pytest.approx(0.5, abs=1e-4)


def test_empty_on_one_side():
    """Boxes only in A are all missing; nothing matched; the verdict fails."""
    a = _det([[0, 0, 10, 10, 0.9, 1], [20, 20, 30, 30, 0.8, 2]])
    result = compare_detections(a, _det([]))
    assert (result.matched, result.missing, result.extra, result.iou_min) == (0, 2, 0, None)
    assert not result.verdict().agrees and "0/2 boxes matched" in result.summary()


def test_both_empty_agree():
    """No boxes on either side is agreement."""
    result = compare_detections(_det([]), _det([]))
    assert result.verdict().agrees and result.summary() == "no boxes on either side"


def test_score_ties_keep_recorded_order():
    """Two A boxes with equal scores competing for one B box: the first recorded one wins."""
    a = _det([[0, 0, 10, 10, 0.5, 0], [0, 0, 10, 11, 0.5, 0]])
    b = _det([[0, 0, 10, 10.5, 0.5, 0]])
    result = compare_detections(a, b)
    assert result.pairs.tolist() == [[0, 0]] and result.missing_idx.tolist() == [1]


def test_greedy_by_score_lets_the_higher_score_choose():
    """The higher-scoring A box takes its best B partner first, even if recorded second."""
    a = _det([[0, 0, 10, 10, 0.3, 0], [1, 0, 11, 10, 0.9, 0]])
    b = _det([[1, 0, 11, 10, 0.9, 0], [0, 0, 10, 10, 0.3, 0]])
    result = compare_detections(a, b)
    assert sorted(result.pairs.tolist()) == [[0, 1], [1, 0]] and result.iou_min == pytest.approx(1.0)


def test_class_swap_is_a_flip_not_missing():
    """Same place, other class: counted as a class flip, not as missing plus extra."""
    a = _det([[0, 0, 10, 10, 0.9, 1], [50, 50, 60, 60, 0.8, 2]])
    b = _det([[0, 0, 10, 10, 0.9, 3], [50, 50, 60, 60, 0.8, 2]])
    result = compare_detections(a, b)
    assert (result.matched, result.class_flips, result.missing, result.extra) == (1, 1, 0, 0)
    assert "1 class flip" in result.summary() and not result.verdict().agrees


def test_declared_xywh_against_xyxy():
    """The same boxes recorded as xywh (declared) on one side and xyxy on the other match exactly."""
    xyxy = np.array([[10, 20, 50, 80, 0.9, 0], [100, 100, 140, 130, 0.7, 1]], np.float32)
    xywh = xyxy.copy()
    xywh[:, 2:4] -= xywh[:, :2]
    a = recognize_value(xyxy, {"kind": "detections"})
    b = recognize_value(xywh, {"kind": "detections", "box_format": "xywh"})
    result = compare_detections(a, b)
    assert result.matched == 2 and result.max_coord_diff == 0


def test_coco_image_id_on_one_side_only():
    """A COCO list with image_id against one without: matched across the record, with a note saying so."""
    recs = [{"image_id": 1, "category_id": 3, "bbox": [10.0, 10.0, 20.0, 20.0], "score": 0.9},
            {"image_id": 2, "category_id": 3, "bbox": [40.0, 40.0, 20.0, 20.0], "score": 0.8}]
    bare = [{k: v for k, v in r.items() if k != "image_id"} for r in recs]
    result = compare_detections(recognize_value(recs), recognize_value(bare))
    assert result.matched == 2 and result.notes == ["image_id only in A: boxes matched across the whole record"]


def test_image_id_groups_keep_images_apart():
    """Identical boxes on different images do not match each other."""
    recs = lambda image: [{"image_id": image, "category_id": 0, "bbox": [0.0, 0.0, 10.0, 10.0], "score": 0.9}]
    result = compare_detections(recognize_value(recs(1)), recognize_value(recs(2)))
    assert (result.matched, result.missing, result.extra) == (0, 1, 1)


def test_iou_tolerance_in_verdict():
    """A 2-px shift of a 20-px box matches at IoU 0.82: agrees at 0.5, not at 0.95."""
    a = _det([[0, 0, 20, 20, 0.9, 0]])
    b = _det([[2, 0, 22, 20, 0.9, 0]])
    result = compare_detections(a, b)
    assert result.verdict(iou=0.5).agrees and not result.verdict(iou=0.95).agrees


def test_merge_sums_samples_and_json_has_contract_keys(real):
    """merge() adds counts over samples; to_json() carries the contract keys and is JSON-serialisable."""
    _, tv, cv = real
    shifted = cv.copy()
    shifted[:3, 1] += 2
    one = compare_detections(recognize_value(tv), recognize_value(cv))
    two = compare_detections(recognize_value(tv), recognize_value(shifted))
    total = merge([one, two])
    doc = json.loads(json.dumps(total.to_json()))
    assert doc["samples"] == 2 and doc["matched"] == 2 * len(tv) and doc["moved_1px"] == 3
    assert doc["max_coord_diff"] == pytest.approx(2.0)
    for key in ("kind", "matched", "missing", "extra", "iou_min", "iou_p50", "max_coord_diff", "mean_coord_diff",
                "moved_1px", "max_score_diff", "class_flips", "below_other_min_score", "matching"):
        assert key in doc
    assert doc["matching"] == "greedy by score within class, IoU >= 0.5"


def test_summary_line_format():
    """The summary reads like the issue's example line."""
    a = _det([[0, 0, 100, 100, 0.9, 0], [200, 200, 300, 300, 0.8, 1]])
    b = _det([[1, 0, 101, 100, 0.9, 0], [200, 200, 300, 300, 0.8, 1]])
    assert compare_detections(a, b).summary() == \
        "2/2 boxes matched at IoU >= 0.98; 1 moved >= 1 px; 0 missing, 0 extra; score |d| <= 0"


def test_boxes_detail_marks_status():
    """Per-sample detail lists each box with matched / missing / extra status for drawing."""
    a = _det([[0, 0, 10, 10, 0.9, 0], [50, 50, 60, 60, 0.4, 0]])
    b = _det([[0, 0, 10, 10, 0.9, 0], [90, 90, 99, 99, 0.6, 0]])
    detail = compare_detections(a, b).to_json(detail=True)["boxes"]
    assert [box["status"] for box in detail["a"]] == ["matched", "missing"]
    assert [box["status"] for box in detail["b"]] == ["matched", "extra"]


def test_iou_matrix_against_torchvision(real):
    """iou_matrix equals torchvision.ops.box_iou on real boxes."""
    import torch
    from torchvision.ops import box_iou

    (boxes, _, _), _, _ = real
    ours = iou_matrix(boxes[:50], boxes[50:120])
    theirs = box_iou(torch.from_numpy(boxes[:50]).double(), torch.from_numpy(boxes[50:120]).double()).numpy()
    np.testing.assert_allclose(ours, theirs, atol=1e-12)


def test_identical_zero_area_boxes_match():
    """Boxes clipped to zero width match their identical twin instead of counting as missing and extra."""
    a = _det([[0, 10, 0, 50, 0.9, 0]])
    result = compare_detections(a, _det([[0, 10, 0, 50, 0.9, 0]]))
    assert (result.matched, result.iou_min) == (1, 1.0)
