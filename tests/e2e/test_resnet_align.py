"""End to end: the vendor's resnet18 alignment case (examples/resnet_align) through record and diff.

Runs the real example programs as subprocesses under `bmtrace record` and asserts on `bmtrace diff
--json`: the port diverges first at resize, the aligned port agrees with the original. One fast test
checks the port's runtime choice against a fake of sail's documented Engine API.
"""
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import types

import numpy as np
import pytest

slow = pytest.mark.slow

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
EXAMPLE = os.path.join(ROOT, "examples", "resnet_align")
PREDICTION = re.compile(r"^(\S+), res: (\d+), score: ([0-9.eE+-]+)$", re.MULTILINE)
STAGES_BEFORE_RESIZE = ("read", "to_rgb")
VENDOR_FP32_ATOL = 1e-3  # FP32 bmodel vs original: max abs diff < 1e-3 (Sophgo's alignment guide)


def _env(runtime="onnxruntime", extra=None):
    """Environment for child processes: this checkout importable, one thread each (shared CI cores).

    The port runs on ONNX Runtime unless told otherwise: the simulator takes tens of seconds per image
    and has its own test below.
    """
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([ROOT] + [p for p in [env.get("PYTHONPATH")] if p])
    env["OMP_NUM_THREADS"] = "1"
    env["RESNET_ALIGN_RUNTIME"] = runtime
    env.update(extra or {})
    for name in ("BMTRACE_DIR", "BMTRACE_SIDE", "BMTRACE_MODE", "BMTRACE_JOIN"):
        env.pop(name, None)
    return env


def _run(args, check=True, cwd=ROOT, runtime="onnxruntime", env=None):
    proc = subprocess.run(args, cwd=str(cwd), env=_env(runtime, env), stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, universal_newlines=True, timeout=900)
    if check and proc.returncode != 0:
        raise AssertionError("%s failed (%d):\n%s\n%s" % (args, proc.returncode, proc.stdout, proc.stderr))
    return proc


def _bmtrace(*args, check=True, runtime="onnxruntime", env=None):
    return _run([sys.executable, "-m", "bmtrace"] + list(args), check=check, runtime=runtime, env=env)


def _predictions(stdout):
    """{image: top-1 class} from a program's `file, res: N, score: S` lines."""
    return {image: int(res) for image, res, _ in PREDICTION.findall(stdout)}


def _diff_json(run_a, run_b, *extra):
    proc = _bmtrace("diff", run_a, run_b, "--json", *extra, check=False)
    assert proc.returncode in (0, 1), proc.stderr
    return proc.returncode, json.loads(proc.stdout)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Record original.py, ported.py and ported_aligned.py once; return their run dirs and predictions."""
    _run([sys.executable, os.path.join(EXAMPLE, "export_model.py")])
    out = tmp_path_factory.mktemp("resnet_align")
    result = {}
    for side, script in (("original", "original.py"), ("ported", "ported.py"),
                         ("aligned", "ported_aligned.py")):
        run_dir = str(out / side)
        proc = _bmtrace("record", "--out", run_dir, "--side", side, "--",
                        sys.executable, os.path.join(EXAMPLE, script))
        result[side] = {"run": run_dir, "stdout": proc.stdout, "top1": _predictions(proc.stdout)}
    return result


@pytest.fixture(scope="module")
def before_fix(runs):
    """(exit code, JSON) of `bmtrace diff original ported`."""
    return _diff_json(runs["original"]["run"], runs["ported"]["run"])


@pytest.fixture(scope="module")
def after_fix(runs):
    """(exit code, JSON) of `bmtrace diff original aligned`."""
    return _diff_json(runs["original"]["run"], runs["aligned"]["run"])


@pytest.fixture(scope="module")
def isolated(runs):
    """JSON of `bmtrace diff original ported --isolate`."""
    return _diff_json(runs["original"]["run"], runs["ported"]["run"], "--isolate")[1]


def _stage_entries(report, stage):
    return [entry for entry in report["stages"] if entry["stage"] == stage]


@slow
def test_every_image_is_classified_by_all_three_programs(runs):
    """Each program prints one prediction per image in images/."""
    images = sorted(f for f in os.listdir(os.path.join(EXAMPLE, "images")) if f.endswith(".jpg"))
    for side in ("original", "ported", "aligned"):
        assert sorted(runs[side]["top1"]) == images, runs[side]["stdout"]


@slow
def test_port_changes_top1_for_some_image(runs):
    """The unfixed port disagrees with the original on at least one image, as in the vendor's case."""
    original, ported = runs["original"]["top1"], runs["ported"]["top1"]
    assert any(original[image] != ported[image] for image in original)


@slow
def test_port_names_its_runtime(runs):
    """ported.py says which inference runtime it used."""
    assert re.search(r"^runtime: (sail|tpu-mlir simulator|onnxruntime) ", runs["ported"]["stdout"], re.M)


@slow
def test_diff_exits_1_before_fix(before_fix):
    """bmtrace diff reports the unfixed port as diverged."""
    code, report = before_fix
    assert code == 1 and report["aligned"] is False


@slow
def test_first_divergence_is_resize(before_fix):
    """The first divergent stage of the unfixed port is resize (antialiasing), not decode or colour order."""
    _, report = before_fix
    assert report["first_divergence"]["stage"] == "resize"


@slow
def test_stages_before_resize_are_aligned(before_fix):
    """Decoding and BGR->RGB agree on every image, so channel order is ruled out."""
    _, report = before_fix
    for stage in STAGES_BEFORE_RESIZE:
        entries = _stage_entries(report, stage)
        assert entries and all(entry["status"] == "aligned" for entry in entries), entries


@slow
def test_isolate_shows_infer_only_inherits(isolated):
    """With --isolate, the model stage's own error on the port's inputs is below the vendor's 1e-3."""
    infer = _stage_entries(isolated, "infer")
    assert infer
    for entry in infer:
        assert entry["introduces"] is False, entry
        assert entry["local"]["max_abs_diff"] < VENDOR_FP32_ATOL, entry


@slow
def test_isolate_blames_resize(isolated):
    """With --isolate, resize introduces error on its own for every image."""
    entries = _stage_entries(isolated, "resize")
    assert entries and all(entry["introduces"] is True for entry in entries), entries


@slow
def test_isolate_clears_normalize(isolated):
    """With --isolate, normalize (convert_to form vs torchvision) only inherits error."""
    for entry in _stage_entries(isolated, "normalize"):
        assert entry["introduces"] is False and entry["local"]["max_abs_diff"] < VENDOR_FP32_ATOL, entry


@slow
def test_aligned_port_diff_is_aligned(after_fix):
    """After the fix bmtrace diff finds no divergence and exits 0."""
    code, report = after_fix
    assert (code, report["aligned"], report["first_divergence"]) == (0, True, None)


@slow
def test_aligned_port_resize_is_bit_exact(after_fix):
    """The fixed resize reproduces torchvision's output exactly on every image."""
    _, report = after_fix
    for entry in _stage_entries(report, "resize"):
        assert all(tensor["max_abs_diff"] == 0 for tensor in entry["tensors"]), entry


@slow
def test_aligned_port_has_identical_top1(runs):
    """After the fix the port predicts the original's top-1 class on every image."""
    assert runs["aligned"]["top1"] == runs["original"]["top1"]


@slow
def test_programs_run_untraced(runs, tmp_path):
    """Without an active bmtrace run the port runs unchanged, predicts the same, and writes no run."""
    proc = _run([sys.executable, os.path.join(EXAMPLE, "ported.py")], cwd=tmp_path)
    assert _predictions(proc.stdout) == runs["ported"]["top1"]
    assert os.listdir(str(tmp_path)) == []


@slow
@pytest.mark.simulator
def test_bmodel_on_simulator_matches_original_model(runs, tmp_path):
    """The aligned port running the compiled F32 bmodel on tpu-mlir's simulator agrees with PyTorch."""
    venv = os.environ.get("TPU_MLIR_VENV", os.path.join(os.path.expanduser("~"), ".cache", "bmtrace",
                                                        "tpu-mlir-venv"))
    if not os.path.exists(os.path.join(venv, "bin", "model_deploy")):
        pytest.skip("no tpu-mlir environment; build it with scripts/build_tpu_mlir_env.sh")
    # Compile into tmp_path (from a copy of the exported ONNX) so that the example's build/ keeps
    # no bmodel: with one there, the demo would pick the slow simulator.
    for name in ("resnet18.onnx", "resnet18.json"):
        shutil.copy(os.path.join(EXAMPLE, "build", name), str(tmp_path / name))
    _run([sys.executable, os.path.join(EXAMPLE, "export_model.py"), "--out", str(tmp_path), "--bmodel"])
    bmodel = {"RESNET_ALIGN_BMODEL": str(tmp_path / "resnet18_f32_bm1684x.bmodel")}
    image = os.path.join(EXAMPLE, "images", "tartan.jpg")  # one image: ~15-30 s on the simulator
    run_dir = str(tmp_path / "simulator")
    proc = _bmtrace("record", "--out", run_dir, "--side", "simulator", "--", sys.executable,
                    os.path.join(EXAMPLE, "ported_aligned.py"), image, runtime="simulator", env=bmodel)
    assert "tpu-mlir simulator" in proc.stdout
    assert _predictions(proc.stdout) == {"tartan.jpg": runs["original"]["top1"]["tartan.jpg"]}
    _, report = _diff_json(runs["original"]["run"], run_dir)
    infer = [entry for entry in _stage_entries(report, "infer") if entry["sample"] == "tartan.jpg"]
    assert infer and infer[0]["status"] == "aligned", infer
    assert all(t["max_abs_diff"] < VENDOR_FP32_ATOL for t in infer[0]["tensors"]), infer


class FakeSailEngine(object):
    """Fake of sophon-sail's documented Engine API (SOPHON.md): one graph, named IO, process() -> dict.

    Like the real one it returns outputs in a dict sorted by name, so code that takes
    list(outputs.values())[0] instead of the output's name would get the wrong tensor here.
    """

    opened = []

    def __init__(self, bmodel_path, tpu_id, io_mode):
        FakeSailEngine.opened.append((bmodel_path, tpu_id, io_mode))
        self.fed = None

    def get_graph_names(self):
        return ["resnet18"]

    def get_input_names(self, graph):
        return ["input"]

    def get_output_names(self, graph):
        return ["logits_Gemm"]

    def process(self, graph, inputs):
        self.fed = inputs
        x = inputs["input"]
        logits = np.full((1, 1000), float(x.mean()), np.float32)
        logits[0, 7] += 1.0
        return dict(sorted({"logits_Gemm": logits, "aux_Add": np.zeros((1, 2), np.float32)}.items()))


def _fake_sail_modules():
    sail = types.ModuleType("sophon.sail")
    sail.Engine = FakeSailEngine
    sail.IOMode = types.SimpleNamespace(SYSIO="SYSIO")
    sophon = types.ModuleType("sophon")
    sophon.sail = sail
    return {"sophon": sophon, "sophon.sail": sail}


def test_port_prefers_sail_and_reads_outputs_by_name(monkeypatch, tmp_path):
    """With sail importable and a bmodel present, ported.py runs it through sail.Engine by IO name."""
    pytest.importorskip("cv2")
    for name, module in _fake_sail_modules().items():
        monkeypatch.setitem(sys.modules, name, module)
    bmodel = tmp_path / "resnet18_f32_bm1684x.bmodel"
    bmodel.write_bytes(b"not read by the fake")
    monkeypatch.setenv("RESNET_ALIGN_BMODEL", str(bmodel))
    monkeypatch.delenv("RESNET_ALIGN_RUNTIME", raising=False)
    spec = importlib.util.spec_from_file_location("resnet_align_ported", os.path.join(EXAMPLE, "ported.py"))
    ported = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(ported)
    FakeSailEngine.opened = []
    x = np.ones((1, 3, 224, 224), np.float32)
    result = ported.postprocess(ported.infer(x))
    assert ported.get_runtime().name == "sail"
    assert FakeSailEngine.opened == [(str(bmodel), 0, "SYSIO")]
    assert result["res"] == 7


@pytest.mark.slow
def test_hints_name_only_the_planted_resize(before_fix):
    """Every hint of the diff is about resize (the planted cause), and the task effect names top-1."""
    _, report = before_fix
    assert report["hints"] and {h["stage"] for h in report["hints"]} == {"resize"}
    assert {h["cause"] for h in report["hints"]} == {"resize_method"}
    assert report["predictions"]["kind"] == "classification"
    assert "top-1 differs on" in report["predictions"]["message"]
