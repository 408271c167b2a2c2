"""End to end: examples/resnet_align's original.py and ported.py, unmodified, under `bmtrace record --auto`.

The programs also carry decorated stages (read, to_rgb, resize, ...); a library call inside the
decorated stage of its own kind (cv2.resize in @trace_stage("resize")) names that stage's op instead of
recording a second stage; other library calls record as children, named by kind. The diff must name resize as the first divergence, at the auto-recorded
call whose ops are torchvision.transforms.Resize (original) and cv2.resize (port).
"""
import json
import os
import subprocess
import sys

import pytest

import bmtrace

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
EXAMPLE = os.path.join(ROOT, "examples", "resnet_align")


def _env():
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([ROOT] + [p for p in [env.get("PYTHONPATH")] if p])
    env["OMP_NUM_THREADS"] = "1"
    env["RESNET_ALIGN_RUNTIME"] = "onnxruntime"  # the port's fast runtime; the simulator has its own tests
    for name in list(env):
        if name.startswith("BMTRACE_"):
            env.pop(name)
    return env


def _run(*args):
    proc = subprocess.run(list(args), cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=600)
    return proc


@pytest.fixture(scope="module")
def diff(tmp_path_factory):
    """Record both programs with --auto and return (runs, exit code, diff JSON)."""
    export = _run(sys.executable, os.path.join(EXAMPLE, "export_model.py"))
    assert export.returncode == 0, export.stderr
    out = tmp_path_factory.mktemp("resnet_auto")
    runs = {}
    for side, script in (("original", "original.py"), ("ported", "ported.py")):
        runs[side] = str(out / side)
        proc = _run(sys.executable, "-m", "bmtrace", "record", "--out", runs[side], "--side", side, "--auto", "--",
                    sys.executable, os.path.join(EXAMPLE, script))
        assert proc.returncode == 0, proc.stderr
    proc = _run(sys.executable, "-m", "bmtrace", "diff", runs["original"], runs["ported"], "--json")
    assert proc.returncode in (0, 1), proc.stderr
    return runs, proc.returncode, json.loads(proc.stdout)


@pytest.mark.slow
def test_first_divergence_is_the_auto_recorded_resize(diff):
    """diff names resize first, and the diverging call is torchvision's Resize against cv2.resize."""
    runs, code, report = diff
    first = report["first_divergence"]
    assert code == 1 and first["stage"] == "resize"
    entry = next(e for e in report["stages"] if e["stage"] == "resize" and e["sample"] == first["sample"]
                 and e["occurrence"] == first["occurrence"])
    call_a = next(c for c in bmtrace.open_run(runs["original"]).calls(sample=first["sample"], stage="resize")
                  if c.occurrence == first["occurrence"])
    call_b = next(c for c in bmtrace.open_run(runs["ported"]).calls(sample=first["sample"], stage="resize")
                  if c.occurrence == first["occurrence"])
    assert entry["status"] == "diverged"
    assert call_a.function["op"] == "torchvision.transforms.Resize" and call_b.function["op"] == "cv2.resize"
    assert call_a.function["params"]["antialias"] is True
    assert call_b.function["params"]["interpolation"] == "INTER_LINEAR"


@pytest.mark.slow
def test_auto_stages_before_resize_are_aligned(diff):
    """The auto decode and color stages (cv2 on both sides) agree on every image."""
    _, _, report = diff
    for stage in ("decode", "color"):
        statuses = {e["status"] for e in report["stages"] if e["stage"] == stage}
        assert statuses == {"aligned"}, (stage, statuses)


@pytest.mark.slow
def test_each_image_has_one_inference_per_side(diff):
    """Model building (training-mode calibration, direct submodule calls) records no extra infer stage; the
    decorated infer stage is the one record per image and names the library call made inside it."""
    runs, _, _ = diff
    for side, op in (("original", "torch.nn.Module.__call__"), ("ported", "onnxruntime.InferenceSession.run")):
        run = bmtrace.open_run(runs[side])
        infer = run.calls(stage="infer")
        assert sorted(c.sample for c in infer) == sorted(run.samples()), side
        assert {c.function.get("op") for c in infer} == {op}
