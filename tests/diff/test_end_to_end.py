"""End to end: record two real programs with `bmtrace record`, diff them with `bmtrace diff`."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

cv2 = pytest.importorskip("cv2")

pytestmark = pytest.mark.slow

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
PROGRAMS = os.path.join(HERE, "programs")


def _bmtrace(*args, cwd=None):
    env = dict(os.environ, PYTHONPATH=REPO + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.run([sys.executable, "-m", "bmtrace"] + list(args), capture_output=True,
                          text=True, env=env, cwd=cwd)


@pytest.fixture(scope="module")
def recorded(tmp_path_factory):
    """Runs of the original, the port with its planted resize bug, and the port fixed."""
    root = tmp_path_factory.mktemp("e2e")
    images = root / "images"
    images.mkdir()
    rng = np.random.default_rng(3)
    for i in range(4):
        # smooth gradients plus noise: a resize method change is visible but not huge
        y, x = np.mgrid[0:90, 0:120]
        img = np.stack([x * 2, y * 2, (x + y)], axis=-1) + rng.integers(0, 40, (90, 120, 3))
        cv2.imwrite(str(images / ("img%d.png" % i)), np.clip(img, 0, 255).astype(np.uint8))
    runs = {}
    for label, program, extra in (("original", "original.py", []), ("port", "port.py", []),
                                  ("fixed", "port.py", ["--resize", "linear"])):
        out = root / label
        proc = _bmtrace("record", "--out", str(out), "--side", label, "--", sys.executable,
                        os.path.join(PROGRAMS, program), str(images), *extra)
        assert proc.returncode == 0, proc.stderr
        runs[label] = str(out)
    return runs


def test_planted_resize_bug_is_the_first_divergence(recorded):
    """The port's nearest-neighbour resize is named as the first divergence; exit code 1."""
    proc = _bmtrace("diff", recorded["original"], recorded["port"], "--json")
    assert proc.returncode == 1, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["first_divergence"]["stage"] == "resize"
    assert doc["first_divergence"]["sample"] == "img0.png"
    by_stage = {}
    for entry in doc["stages"]:
        by_stage.setdefault(entry["stage"], set()).add(entry["status"])
    assert by_stage["decode"] == {"aligned"}
    assert by_stage["resize"] == {"diverged"}


def test_table_marks_resize(recorded):
    """The terminal table marks the resize row and lists stages in the original's order."""
    proc = _bmtrace("diff", recorded["original"], recorded["port"])
    assert proc.returncode == 1
    lines = proc.stdout.splitlines()
    header = [i for i, line in enumerate(lines) if "max abs diff" in line][0]
    rows = lines[header + 1:header + 6]
    names = [r.split()[1] if r.startswith(">>") else r.split()[0] for r in rows]
    assert names == ["decode", "resize", "normalize", "infer", "postprocess"]
    assert rows[1].startswith(">>")


def test_fixed_port_is_aligned(recorded):
    """With the same resize, the port (threads, reversed order, other code) aligns: exit 0."""
    proc = _bmtrace("diff", recorded["original"], recorded["fixed"])
    assert proc.returncode == 0, proc.stdout + proc.stderr
