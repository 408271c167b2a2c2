"""The diff judges prediction stages in task terms: top-1 agreement, boxes matched by IoU (issue 14)."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

import bmtrace
from bmtrace.diff import DiffResult
from bmtrace.report.text import render

from .diff_helpers import record

pytest.importorskip("bmtrace.predictions")

# 12-class logits (an undeclared (1, C) vector is read as logits from 10 classes on); the top-1 of
# a.jpg and c.jpg moves when the port reverses the class axis, b.jpg's (in the middle) stays.
LOGITS = {"a.jpg": [3.0] + [0.1] * 11, "b.jpg": [0.1] * 5 + [3.0, 2.0] + [0.1] * 5, "c.jpg": [0.2] * 11 + [2.5]}


def _classifier(flip):
    """infer -> postprocess; the port's logits change the top-1 of the samples in ``flip``."""

    @bmtrace.trace_stage("infer")
    def infer(key):
        logits = np.array([LOGITS[key]], np.float32)
        if key in flip:
            logits = logits[:, ::-1].copy()  # b.jpg reversed would move 5 -> 6: never flipped here
        return logits

    @bmtrace.trace_stage("postprocess")
    def postprocess(logits):
        probs = np.exp(logits) / np.exp(logits).sum()
        return {"res": int(probs.argmax()), "score": float(probs.max())}

    return lambda key: postprocess(infer(key))


def test_changed_top1_is_the_task_effect(tmp_path):
    """Top-1 changed on 2 of 3 samples: the stage summary, the row and the task effect line say so."""
    result = bmtrace.diff(record(tmp_path / "a", LOGITS, _classifier(())),
                          record(tmp_path / "b", LOGITS, _classifier(("a.jpg", "c.jpg"))))
    post = next(s for s in result.to_json()["summary"] if s["stage"] == "postprocess")
    assert post["predictions"]["kind"] == "classification"
    assert post["predictions"]["top1_agree"] == 1 and post["predictions"]["samples"] == 3
    effect = result.to_json()["predictions"]
    assert effect["stage"] == "postprocess" and effect["agreement"]["value"] == pytest.approx(1 / 3)
    text = render(result)
    assert "task effect: top-1 differs on 2 of 3 samples at postprocess; first divergence at infer" in text
    assert "predictions: top-1 agrees on 1/3" in text


def test_task_tolerance_aligns_a_stage_whose_predictions_agree(tmp_path):
    """--tol STAGE.top1=1 judges the stage by top-1: raw logits differ, predictions agree, stage aligned."""

    def port(key):
        with bmtrace.trace_stage("infer") as st:
            st.output(np.array([LOGITS[key]], np.float32) * np.float32(1.5))
    a = record(tmp_path / "a", LOGITS, lambda key: _classifier(())(key))
    b = record(tmp_path / "b", LOGITS, port)
    plain = bmtrace.diff(a, b)
    assert next(e for e in plain.stages if e.stage == "infer").status == "diverged"
    judged = bmtrace.diff(a, b, tol={"infer.top1": 1.0})
    entries = [e for e in judged.stages if e.stage == "infer"]
    assert all(e.status == "aligned" for e in entries)
    assert any("judged by its predictions" in n for n in entries[0].notes)


def _detector(shift):
    boxes = np.array([[10, 10, 50, 60, 0.9, 1], [100, 40, 180, 120, 0.8, 2], [5, 90, 30, 140, 0.3, 1]],
                     np.float32)

    @bmtrace.trace_stage("nms", kind="detections")
    def nms(key):
        out = boxes.copy()
        out[:, :4] += shift
        return out
    return nms


def test_detections_are_matched_by_iou_not_by_position(tmp_path):
    """(n, 6) boxes moved by 1 px: all matched, 3 moved >= 1 px, 0 missing; not a row-by-row diff."""
    result = bmtrace.diff(record(tmp_path / "a", ["x.jpg"], _detector(0)),
                          record(tmp_path / "b", ["x.jpg"], _detector(1)))
    (entry,) = [e for e in result.stages if e.stage == "nms"]
    pred = entry.extra["predictions"]
    assert (pred["matched"], pred["missing"], pred["extra"], pred["moved_1px"]) == (3, 0, 0, 3)
    assert "3/3 boxes matched" in result.task["message"]
    again = DiffResult.from_json(json.loads(json.dumps(result.to_json())))
    assert render(again) == render(result)


def test_cli_json_carries_the_predictions_contract(tmp_path):
    """`bmtrace diff --json` has the stage entry's predictions keys and the top-level summary."""
    a = record(tmp_path / "a", ["x.jpg"], _detector(0))
    b = record(tmp_path / "b", ["x.jpg"], _detector(2))
    env = dict(os.environ, PYTHONPATH=os.path.dirname(os.path.dirname(bmtrace.__file__)))
    proc = subprocess.run([sys.executable, "-m", "bmtrace", "diff", a, b, "--json"], capture_output=True,
                          text=True, env=env)
    doc = json.loads(proc.stdout)
    pred = [s for s in doc["stages"] if s["stage"] == "nms"][0]["predictions"]
    for key in ("kind", "matched", "missing", "extra", "iou_min", "max_coord_diff", "class_flips"):
        assert key in pred
    assert doc["predictions"]["kind"] == "detections" and doc["predictions"]["stage"] == "nms"


def test_html_report_shows_predictions_and_draws_boxes(tmp_path):
    """The report's detection stage has its predictions summary, per-sample rows and a boxes picture."""
    pytest.importorskip("matplotlib")
    from bmtrace.report.html import render_html

    def program(shift):
        nms = _detector(shift)

        def run(key):
            with bmtrace.trace_stage("decode") as st:
                st.output(np.full((160, 200, 3), 90, np.uint8))
            nms(key)
        return run
    a = record(tmp_path / "a", ["x.jpg"], program(0))
    b = record(tmp_path / "b", ["x.jpg"], program(3))
    result = bmtrace.diff(a, b)
    html = render_html(result, *result.run_objects)
    section = html[html.index("<h3>Predictions</h3>"):]
    assert "3/3 boxes matched" in section
    assert 'alt="boxes of A (solid) and B (dashed)"' in section


def test_stats_mode_compares_predictions_its_sketches_kept_whole(tmp_path):
    """12-class logits (48 bytes) recorded in stats mode are kept whole in their sketches: the top-1
    changes on a.jpg and c.jpg are found as in full mode, on either side's mode."""
    flip = ("a.jpg", "c.jpg")
    for mode_a, mode_b in (("stats", "stats"), ("full", "stats")):
        root = tmp_path / (mode_a + "-" + mode_b)
        result = bmtrace.diff(record(root / "a", LOGITS, _classifier(()), mode=mode_a),
                              record(root / "b", LOGITS, _classifier(flip), mode=mode_b), explain=False)
        post = next(s for s in result.to_json()["summary"] if s["stage"] == "postprocess")
        assert post["predictions"]["top1_agree"] == 1 and post["predictions"]["samples"] == 3
        assert not [n for n in result.warnings if "predictions not compared" in n]


def test_stats_mode_predictions_kept_as_a_sample_get_one_note(tmp_path):
    """1000-class logits recorded in stats mode keep only a sample of their values: one note for the
    stage (not one per sample) that names the side and the way to record them, and no verdict."""
    keys = ["s%02d.jpg" % i for i in range(12)]

    def infer(key):
        with bmtrace.trace_stage("infer") as st:
            st.output(np.random.default_rng(len(key)).standard_normal((1, 1000)).astype(np.float32))

    result = bmtrace.diff(record(tmp_path / "a", keys, infer),
                          record(tmp_path / "b", keys, infer, mode="stats"), explain=False)
    notes = [n for n in result.warnings if "predictions not compared" in n]
    assert notes == ['stage infer: predictions not compared: run B recorded it in stats mode, which keeps only a '
                     'sample of the values of an output this large; record it in full mode to compare them '
                     '(bmtrace.start(..., stage_modes={"infer": "full"}))']
    assert not result.predictions
