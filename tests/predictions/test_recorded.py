"""Recognition on calls read back from a real recorded run (journal + payloads), not on live values."""
import numpy as np

import bmtrace
from bmtrace.predictions import compare_predictions, recognize_call


@bmtrace.trace_stage("nms", meta={"kind": "detections"})
def nms(rows):
    return rows


@bmtrace.trace_stage("coco_json")
def coco_json(rows):
    return [{"image_id": 3, "category_id": int(c), "bbox": [x1, y1, x2 - x1, y2 - y1], "score": s}
            for x1, y1, x2, y2, s, c in rows.tolist()]


@bmtrace.trace_stage("postprocess")
def postprocess(logits):
    return {"res": int(np.argmax(logits)), "score": float(np.max(logits))}


@bmtrace.trace_stage("empty", meta={"kind": "detections"})
def empty():
    return []


def _record(path, rows):
    with bmtrace.run(str(path), side="x", overwrite=True):
        with bmtrace.sample("a.jpg"):
            coco_json(nms(rows))
            postprocess(np.linspace(0, 1, 10))
            empty()
    return bmtrace.open_run(str(path))


def test_recorded_calls_are_recognised_and_compared(tmp_path):
    """(n,6) arrays, COCO lists, top-1 dicts and empty lists read back from disk are recognised."""
    rows = np.array([[10, 20, 50, 80, 0.9, 1], [100, 100, 140, 130, 0.7, 2]], np.float32)
    run_a = _record(tmp_path / "a", rows)
    moved = rows.copy()
    moved[0, 2] += 1
    run_b = _record(tmp_path / "b", moved)
    found = {}
    for stage in ("nms", "coco_json", "postprocess", "empty"):
        (call_a,), (call_b,) = run_a.calls(stage=stage), run_b.calls(stage=stage)
        found[stage] = compare_predictions(recognize_call(call_a), recognize_call(call_b))
    assert (found["nms"].matched, found["nms"].moved_1px) == (2, 1)
    assert (found["coco_json"].matched, found["coco_json"].moved_1px) == (2, 1)
    assert found["coco_json"].a.group_key == "image_id"
    assert found["postprocess"].top1_agree == 1
    assert found["empty"].summary() == "no boxes on either side"


def test_compare_calls_is_none_for_ordinary_tensors(tmp_path):
    """compare_calls returns None for a stage whose outputs are not predictions."""
    run = _record(tmp_path / "a", np.zeros((0, 6), np.float32))

    @bmtrace.trace_stage("normalize")
    def normalize(x):
        return x / 255.0

    with bmtrace.run(str(tmp_path / "n"), side="x"):
        normalize(np.zeros((1, 3, 8, 8), np.float32))
    (call,) = bmtrace.open_run(str(tmp_path / "n")).calls(stage="normalize")
    from bmtrace.predictions import compare_calls

    assert compare_calls(call, call) is None
    (empty_a,) = run.calls(stage="nms")
    assert compare_calls(empty_a, empty_a).summary() == "no boxes on either side"
