"""`bmtrace substitute` on real programs: the port re-run with the original's values at one stage."""
import json
import os
import sys

import bmtrace
from bmtrace.replayer.substitute import read_notes

from .conftest import bmtrace_cli, record


def test_original_resize_output_aligns_everything_after_it(runs, tmp_path):
    """With A's resize output, the cv2 port's later stages and top-1 agree with A; exit code stays 1
    because resize itself (B's own output, as recorded) still differs."""
    out = tmp_path / "new"
    proc = bmtrace_cli("substitute", runs["original"], runs["cv2_resize"], "--stage", "resize", "--out", out,
                       "--json", "--", sys.executable, "port.py")
    assert proc.returncode == 1, proc.stderr
    doc = json.loads(proc.stdout)
    status = {row["stage"]: row["status"] for row in doc["summary"]}
    assert status == {"resize": "diverged", "normalize": "aligned", "infer": "aligned", "postprocess": "aligned"}
    assert doc["predictions"]["agreement"]["value"] == 1.0
    assert bmtrace.open_run(str(out)).meta["substitution"]["stage"] == "resize"


def test_numpy_port_takes_the_torch_originals_tensor(runs, tmp_path):
    """A's torch input of infer is fed to the port's numpy predict(input_img, img_num) by position,
    and img_num, which A has no counterpart for, is kept and noted."""
    out = tmp_path / "new"
    proc = bmtrace_cli("substitute", runs["original"], runs["cv2_resize"], "--stage", "infer", "--inputs",
                       "--out", out, "--", sys.executable, "port.py")
    assert proc.returncode == 1
    notes = read_notes(str(out))
    fed = [n for n in notes if n["name"] == "input_img"]
    assert fed and all(n["substituted"] and n["source_name"] == "x" for n in fed)
    assert all(n.get("kept") for n in notes if n["name"] == "img_num")
    infer_line = next(line for line in proc.stdout.splitlines() if line.strip().startswith("infer"))
    assert "aligned" in infer_line


def test_recorded_command_never_runs_without_trust_recorded(runs, tmp_path):
    """Without a command or --trust-recorded, nothing runs: exit 2, the marker file is not created."""
    marker = tmp_path / "ran"
    run_b = record(tmp_path / "b", "port", "port.py", "--marker", str(marker))
    os.remove(str(marker))
    proc = bmtrace_cli("substitute", runs["original"], run_b, "--stage", "resize", "--out", tmp_path / "new")
    assert proc.returncode == 2
    assert "--trust-recorded" in proc.stderr
    assert not marker.exists()


def test_trust_recorded_prints_then_runs_the_recorded_command(runs, tmp_path):
    """--trust-recorded prints B's recorded command line and runs it from its recorded folder."""
    marker = tmp_path / "ran"
    run_b = record(tmp_path / "b", "port", "port.py", "--marker", str(marker))
    os.remove(str(marker))
    proc = bmtrace_cli("substitute", runs["original"], run_b, "--stage", "resize", "--out", tmp_path / "new",
                       "--trust-recorded", cwd=str(tmp_path))
    assert proc.returncode == 1, proc.stderr
    assert "port.py --marker %s" % marker in proc.stderr
    assert marker.exists()
