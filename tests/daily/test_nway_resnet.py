"""N-way diff on the resnet example: PyTorch original vs the port on ONNX Runtime (buggy and fixed) and,
when the tpu-mlir environment exists, the fixed port running the compiled F32 bmodel on the simulator."""
import json
import os
import shutil
import subprocess
import sys

import pytest

pytestmark = pytest.mark.slow

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
EXAMPLE = os.path.join(ROOT, "examples", "resnet_align")
IMAGE = os.path.join(EXAMPLE, "images", "tartan.jpg")
IMAGES = [IMAGE, os.path.join(EXAMPLE, "images", "night_city.jpg")]
VENV = os.environ.get("TPU_MLIR_VENV", os.path.join(os.path.expanduser("~"), ".cache", "bmtrace", "tpu-mlir-venv"))


def _run(args, runtime="onnxruntime", extra=None, check=True):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([ROOT] + [p for p in [os.environ.get("PYTHONPATH")] if p]),
               OMP_NUM_THREADS="1", RESNET_ALIGN_RUNTIME=runtime, **(extra or {}))
    for name in ("BMTRACE_DIR", "BMTRACE_SIDE", "BMTRACE_MODE"):
        env.pop(name, None)
    proc = subprocess.run(args, env=env, capture_output=True, text=True, timeout=1200)
    if check and proc.returncode != 0:
        raise AssertionError("%s failed (%d):\n%s\n%s" % (args, proc.returncode, proc.stdout, proc.stderr))
    return proc


def _record(out, side, script, images, runtime="onnxruntime", extra=None):
    _run([sys.executable, "-m", "bmtrace", "record", "--out", str(out), "--side", side, "--", sys.executable,
          os.path.join(EXAMPLE, script)] + images, runtime=runtime, extra=extra)
    return str(out)


@pytest.fixture(scope="module")
def recorded(tmp_path_factory):
    """Runs of the original (torch), the port and the fixed port (ONNX Runtime), and the fixed port on the
    simulator (one image) when tpu-mlir is there."""
    pytest.importorskip("torch")
    pytest.importorskip("onnxruntime")
    _run([sys.executable, os.path.join(EXAMPLE, "export_model.py")])
    base = tmp_path_factory.mktemp("nway_resnet")
    runs = {"original": _record(base / "original", "original", "original.py", IMAGES),
            "ported": _record(base / "ported", "ported", "ported.py", IMAGES),
            "aligned": _record(base / "aligned", "aligned", "ported_aligned.py", IMAGES)}
    if os.path.exists(os.path.join(VENV, "bin", "model_deploy")):
        for name in ("resnet18.onnx", "resnet18.json"):
            shutil.copy(os.path.join(EXAMPLE, "build", name), str(base / name))
        _run([sys.executable, os.path.join(EXAMPLE, "export_model.py"), "--out", str(base), "--bmodel"])
        runs["simulator"] = _record(base / "simulator", "simulator", "ported_aligned.py", [IMAGE],
                                    runtime="simulator",
                                    extra={"RESNET_ALIGN_BMODEL": str(base / "resnet18_f32_bm1684x.bmodel")})
    return runs


def test_nway_matrix_across_runtimes(recorded):
    """One reference, every candidate a column: the fixed ports agree, the buggy port diverges first at resize."""
    names = [n for n in ("aligned", "ported", "simulator") if n in recorded]
    proc = _run([sys.executable, "-m", "bmtrace", "diff", recorded["original"]] + [recorded[n] for n in names]
                + ["--allow-missing", "--no-explain", "--json"], check=False)
    assert proc.returncode == 1, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["format"] == "bmtrace-diff-nway" and len(doc["candidates"]) == len(names)
    by_name = dict(zip(names, doc["candidates"]))
    assert by_name["ported"]["first_divergence"]["stage"] == "resize"
    assert by_name["aligned"]["exit_code"] == 0, by_name["aligned"]["summary"]
    if "simulator" in by_name:  # F32 bmodel on the simulator: within the vendor's 1e-3
        assert by_name["simulator"]["exit_code"] == 0, by_name["simulator"]["summary"]
        assert by_name["simulator"]["samples"]["only_in_a"]  # the image it did not run: reported, allowed
    resize = next(row for row in doc["matrix"] if row["stage"] == "resize")
    assert [cell["first"] for cell in resize["cells"]] == [name == "ported" for name in names]
