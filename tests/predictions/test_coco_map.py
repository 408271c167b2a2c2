"""coco_map against pycocotools' COCOeval on random and on real NMS detections."""
import contextlib
import io

import numpy as np
import pytest

from bmtrace.predictions import Detections, recognize_value
from bmtrace.predictions.coco_map import coco_map

from .candidates import candidates, cv2_nms, torchvision_nms


def _records(det):
    """COCO result dicts (xywh) of a grouped Detections."""
    out = []
    for i in range(len(det)):
        x1, y1, x2, y2 = det.boxes[i].tolist()
        out.append({"image_id": int(det.groups[i]), "category_id": int(det.classes[i]),
                    "bbox": [x1, y1, x2 - x1, y2 - y1], "score": float(det.scores[i])})
    return out


def _pycocotools_map(a, b, image_ids):
    """mAP@[.5:.95] of b against a as ground truth, computed by pycocotools."""
    pytest.importorskip("pycocotools")
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    anns = _records(a)
    for i, ann in enumerate(anns):
        ann.update(id=i + 1, area=ann["bbox"][2] * ann["bbox"][3], iscrowd=0)
    cats = sorted(set(a.classes.tolist()) | set(b.classes.tolist()))
    gt = COCO()
    gt.dataset = {"images": [{"id": i} for i in image_ids], "annotations": anns,
                  "categories": [{"id": c} for c in cats]}
    with contextlib.redirect_stdout(io.StringIO()):
        gt.createIndex()
        dt = gt.loadRes(_records(b)) if len(b) else COCO()
        ev = COCOeval(gt, dt, "bbox")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return ev.stats[0], ev.stats[1], ev.stats[2]


def _random(rng, n, images, classes=4):
    xy = rng.uniform(0, 300, (n, 2))
    wh = rng.uniform(5, 80, (n, 2))
    return Detections(np.concatenate([xy, xy + wh], 1), rng.uniform(0, 1, n).round(2),
                      rng.integers(0, classes, n), rng.integers(0, images, n), "image_id")


def _perturbed(rng, det, drop=0.2, jitter=6.0):
    keep = rng.uniform(size=len(det)) > drop
    out = det.select(keep)
    out.boxes = out.boxes + rng.normal(0, jitter, out.boxes.shape)
    out.scores = np.clip(out.scores + rng.normal(0, 0.1, len(out)), 0, 1).round(2)  # rounding makes ties
    extra = _random(rng, 15, 6)
    return Detections(np.concatenate([out.boxes, extra.boxes]), np.concatenate([out.scores, extra.scores]),
                      np.concatenate([out.classes, extra.classes]), np.concatenate([out.groups, extra.groups]),
                      "image_id")


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_random_detections_match_pycocotools(seed):
    """On random jittered, dropped and added boxes, mAP / AP50 / AP75 equal pycocotools' within 1e-6."""
    rng = np.random.default_rng(seed)
    a = _random(rng, 120, 6)
    b = _perturbed(rng, a)
    ours = coco_map([("run", a, b)])
    theirs = _pycocotools_map(a, b, range(6))
    assert ours.map == pytest.approx(theirs[0], abs=1e-6)
    assert (ours.map50, ours.map75) == pytest.approx(theirs[1:], abs=1e-6)
    assert 0.05 < ours.map < 0.95  # a non-trivial case


def test_real_nms_outputs_match_pycocotools():
    """torchvision NMS at IoU 0.45 vs OpenCV NMS at 0.6 on four seeded images: same mAP as pycocotools."""
    pytest.importorskip("torchvision")
    a_parts, b_parts = [], []
    for image in range(4):
        cand = candidates(seed=10 + image)
        a_parts.append(torchvision_nms(*cand))
        b_parts.append(cv2_nms(*cand, iou=0.6, conf=0.2))
    a, b = recognize_value(a_parts), recognize_value(b_parts)
    ours = coco_map([("run", a, b)])
    theirs = _pycocotools_map(a, b, range(4))
    assert ours.map == pytest.approx(theirs[0], abs=1e-6) and ours.map < 1.0


def test_identical_detections_score_one():
    """B identical to A gives mAP 1.0, also summed over several samples."""
    rng = np.random.default_rng(5)
    dets = [_random(rng, 30, 3) for _ in range(3)]
    result = coco_map([("s%d" % i, d, d) for i, d in enumerate(dets)])
    assert result.map == pytest.approx(1.0) and result.images == 9


def test_no_ground_truth_is_undefined():
    """Without A boxes mAP is None and the summary says why."""
    empty = Detections(np.zeros((0, 4)), np.zeros(0), np.zeros(0, int))
    result = coco_map([(empty, _random(np.random.default_rng(0), 5, 1))])
    assert result.map is None and "no boxes" in result.summary()


def test_package_exports_the_function():
    """bmtrace.predictions.coco_map is the function (the diff calls it through the package)."""
    import bmtrace.predictions as predictions

    d = _random(np.random.default_rng(1), 10, 2)
    assert predictions.coco_map([(d, d)]).map == pytest.approx(1.0)
