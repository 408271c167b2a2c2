"""End to end: the YOLO-style detector pair (examples/yolo_align) recorded with `bmtrace record` and
compared in task terms by bmtrace.predictions.

The port's planted differences are known, so the expected figures are derived from the original's own
recording: every box the original clipped at the image's right or bottom edge moves by exactly 1 px
in the port (it clips to width - 1 / height - 1); the port run with a lower confidence threshold keeps
extra boxes, all scoring below the original's lowest.
"""
import os
import subprocess
import sys

import numpy as np
import pytest

import bmtrace
from bmtrace.predictions import compare_predictions, merge_comparisons, recognize_call
from bmtrace.predictions.coco_map import coco_map

slow = pytest.mark.slow

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
EXAMPLE = os.path.join(ROOT, "examples", "yolo_align")
DETECTION_STAGES = ("nms", "rescale", "coco_json")


def _env():
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([ROOT] + [p for p in [env.get("PYTHONPATH")] if p])
    env["OMP_NUM_THREADS"] = "1"
    for name in ("BMTRACE_DIR", "BMTRACE_SIDE", "BMTRACE_MODE", "BMTRACE_JOIN"):
        env.pop(name, None)
    return env


def _start(args):
    return subprocess.Popen(args, cwd=ROOT, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            universal_newlines=True)


def _finish(proc):
    out, err = proc.communicate(timeout=600)
    if proc.returncode != 0:
        raise AssertionError("%s failed (%d):\n%s\n%s" % (proc.args, proc.returncode, out, err))
    return out


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Record original.py, ported.py and ported.py --conf 0.2 (side by side); return the opened runs."""
    pytest.importorskip("torchvision")
    pytest.importorskip("onnxruntime")
    _finish(_start([sys.executable, os.path.join(EXAMPLE, "export_model.py")]))
    out = tmp_path_factory.mktemp("yolo_align")
    procs = {}
    for side, extra in (("original", ["original.py"]), ("ported", ["ported.py"]),
                        ("low_conf", ["ported.py", "--conf", "0.2"])):
        procs[side] = (str(out / side), _start([sys.executable, "-m", "bmtrace", "record", "--out", str(out / side),
                                               "--side", side, "--", sys.executable,
                                               os.path.join(EXAMPLE, extra[0])] + extra[1:]))
    opened = {}
    for side, (run_dir, proc) in procs.items():
        _finish(proc)
        opened[side] = bmtrace.open_run(run_dir)
    return opened


def _compare(run_a, run_b, stage):
    """Per-sample comparisons of one stage's predictions, keyed by sample."""
    out = {}
    for call_a in run_a.calls(stage=stage):
        (call_b,) = run_b.calls(sample=call_a.sample, stage=stage)
        out[call_a.sample] = compare_predictions(recognize_call(call_a), recognize_call(call_b))
    return out


def _edge_clipped(run):
    """How many of the original's rescaled boxes it clipped at the right or bottom image edge."""
    count = 0
    for call in run.calls(stage="rescale"):
        height, width = run.calls(sample=call.sample, stage="read")[0].output().shape[:2]
        det = call.output().load()
        count += int(np.count_nonzero((det[:, [0, 2]] >= width).any(1) | (det[:, [1, 3]] >= height).any(1)))
    return count


@slow
def test_every_image_is_a_sample_with_boxes(runs):
    """Both programs record every image as a sample and the seeded model finds boxes on each."""
    images = sorted(f for f in os.listdir(os.path.join(EXAMPLE, "images")) if f.endswith(".jpg"))
    for side in ("original", "ported"):
        assert sorted(s for s in runs[side].samples() if s) == images
    counts = [len(recognize_call(c)) for c in runs["original"].calls(stage="nms")]
    assert min(counts) > 0 and sum(counts) >= 50, counts


@slow
def test_nms_agrees_between_torchvision_and_cv2(runs):
    """The port's NMS output matches the original's box for box: nothing moved, missing or extra."""
    total = merge_comparisons(_compare(runs["original"], runs["ported"], "nms").values())
    assert total.verdict(iou=0.99).agrees, total.summary()
    assert total.moved_1px == 0 and total.matched == total.boxes_a


@slow
def test_rescale_reports_the_one_pixel_clip(runs):
    """After rescale every box still matches and exactly the edge-clipped boxes moved by 1 px."""
    total = merge_comparisons(_compare(runs["original"], runs["ported"], "rescale").values())
    expected = _edge_clipped(runs["original"])
    assert expected > 0
    assert (total.matched, total.missing, total.extra, total.class_flips) == (total.boxes_a, 0, 0, 0)
    assert total.moved_1px == expected, total.summary()
    assert total.max_coord_diff == pytest.approx(1.0, abs=1e-3)
    assert total.verdict(iou=0.5).agrees and "%d moved >= 1 px" % expected in total.summary()


@slow
def test_coco_json_carries_the_same_verdict(runs):
    """The COCO records (xywh, image_id) give the rescale stage's figures; mAP of B against A is below 1."""
    per_sample = _compare(runs["original"], runs["ported"], "coco_json")
    total = merge_comparisons(per_sample.values())
    assert (total.missing, total.extra, total.moved_1px) == (0, 0, _edge_clipped(runs["original"]))
    pairs = [(s, c.a, c.b) for s, c in per_sample.items()]
    result = coco_map(pairs)
    assert 0.5 < result.map < 1.0


@slow
def test_lower_threshold_shows_as_extra_boxes_below_a(runs):
    """The port at conf 0.2: all original boxes matched, the extras all score below A's lowest."""
    total = merge_comparisons(_compare(runs["original"], runs["low_conf"], "nms").values())
    assert total.extra > 0 and total.below_extra == total.extra and total.missing == 0
    assert total.matched == total.boxes_a and not total.verdict().agrees
    assert "below A's lowest score" in total.summary()


@pytest.mark.slow
def test_bmtrace_diff_hints_only_the_planted_clip(runs):
    """`bmtrace diff` on the port names rescale first, as detections, with one hint: box_clip at rescale."""
    result = bmtrace.diff(runs["original"], runs["ported"])
    assert result.first_divergence.stage == "rescale"
    assert {(h["stage"], h["cause"]) for h in result.hints} == {("rescale", "box_clip")}
    assert result.task["kind"] == "detections" and result.task["missing"] == 0 and result.task["extra"] == 0


@pytest.mark.slow
def test_record_auto_names_the_same_first_divergence_and_cause(tmp_path):
    """Under `bmtrace record --auto` (library calls recorded too), the diff still names rescale and box_clip,
    and the auto-recorded stages (decode, resize, pad) agree."""
    pytest.importorskip("torchvision")
    pytest.importorskip("onnxruntime")
    _finish(_start([sys.executable, os.path.join(EXAMPLE, "export_model.py")]))
    procs = {}
    for side, script in (("original", "original.py"), ("ported", "ported.py")):
        procs[side] = _start([sys.executable, "-m", "bmtrace", "record", "--out", str(tmp_path / side), "--side",
                              side, "--auto", "--", sys.executable, os.path.join(EXAMPLE, script)])
    for proc in procs.values():
        _finish(proc)
    result = bmtrace.diff(str(tmp_path / "original"), str(tmp_path / "ported"))
    assert result.first_divergence.stage == "rescale"
    assert ("rescale", "box_clip") in {(h["stage"], h["cause"]) for h in result.hints}
    rows = {s.stage: s.status for s in result.by_stage()}
    assert rows["decode"] == rows["resize"] == rows["pad"] == "aligned"
