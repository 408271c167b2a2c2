"""Accepted differences: `--accept-current FILE` records today's differences, `--accepted FILE` judges
what goes beyond them."""
import json

import pytest

import bmtrace
from bmtrace.errors import UsageError


@pytest.fixture
def noisy(runs):
    """A reference run and a port whose logits differ by 0.01 (infer diverges)."""
    return runs("a"), runs("b", logits_noise=0.01)


def test_accept_current_writes_the_documented_file(noisy, cli, tmp_path):
    """The file lists the diverged tensor with its status, max abs diff and cosine."""
    path = tmp_path / "accepted.json"
    proc = cli("diff", *noisy, "--accept-current", path)
    assert proc.returncode == 0, proc.stdout
    doc = json.loads(path.read_text())
    assert doc["format"] == "bmtrace-accepted"
    [item] = doc["accepted"]
    assert (item["stage"], item["tensor"], item["status"]) == ("infer", "out", "diverged")
    assert item["max_abs_diff"] == pytest.approx(0.01, rel=1e-3) and item["cosine"] < 1


def test_accepted_file_turns_the_known_difference_into_exit_0(noisy, cli, tmp_path):
    """With --accepted the same difference passes as 'accepted' and the document says which entries."""
    path = tmp_path / "accepted.json"
    assert cli("diff", *noisy, "-q").returncode == 1
    cli("diff", *noisy, "--accept-current", path)
    proc = cli("diff", *noisy, "--accepted", path, "--json")
    assert proc.returncode == 0, proc.stdout
    doc = json.loads(proc.stdout)
    infer = [e for e in doc["stages"] if e["stage"] == "infer"]
    assert all(e["status"] == "accepted" and e["accepted"] == ["out"] for e in infer)
    assert doc["accepted"]["used"] == ["infer.out"] and doc["accepted"]["beyond"] == []


def test_a_larger_difference_goes_beyond_the_accepted_one(runs, cli, tmp_path):
    """Accepting 0.01 on the logits does not accept 0.05: exit 1 and the tensor is named."""
    a = runs("a")
    path = tmp_path / "accepted.json"
    cli("diff", a, runs("b", logits_noise=0.01), "--accept-current", path)
    proc = cli("diff", a, runs("worse", logits_noise=0.05), "--accepted", path, "--json")
    assert proc.returncode == 1
    assert json.loads(proc.stdout)["accepted"]["beyond"] == ["infer.out"]


def test_a_new_upstream_difference_still_fails(runs, tmp_path):
    """Accepting the logits noise does not hide a new resize difference upstream."""
    a = runs("a")
    accepted = tmp_path / "accepted.json"
    from bmtrace.diff.accept import write_accepted

    write_accepted(bmtrace.diff(a, runs("b", logits_noise=0.01)), accepted)
    result = bmtrace.diff(a, runs("c", logits_noise=0.01, resize_shift=1), accepted=str(accepted))
    assert result.exit_code == 1 and result.first_divergence.stage == "resize"


def test_accepted_rejects_a_file_of_another_kind(noisy, tmp_path):
    """A JSON file that is not an accepted-differences file is a usage error naming the fix."""
    path = tmp_path / "other.json"
    path.write_text('{"format": "bmtrace-diff"}')
    with pytest.raises(UsageError, match="--accept-current"):
        bmtrace.diff(*noisy, accepted=str(path))


def test_accepted_and_accept_current_together_are_refused(noisy, cli, tmp_path):
    """Writing and judging in one command is refused with a usage error."""
    path = tmp_path / "a.json"
    proc = cli("diff", *noisy, "--accepted", path, "--accept-current", path)
    assert proc.returncode != 0 and "exclude each other" in proc.stderr


PIPE = '''
import sys
import numpy as np
import bmtrace

SHIFT, SCALE = 0, 255.0  # run A's values; replay imports this file as A's program

@bmtrace.trace_stage("decode")
def decode(i):
    return np.random.default_rng(i).integers(0, 250, (16, 16, 3), dtype=np.uint8)

@bmtrace.trace_stage("resize")
def resize(img):
    return (img[::2, ::2] + np.uint8(SHIFT)).astype(np.uint8)

@bmtrace.trace_stage("normalize")
def normalize(img):
    return (img.astype(np.float32) - np.float32(127.5)) / np.float32(SCALE)

if __name__ == "__main__":
    SHIFT, SCALE = int(sys.argv[3]), float(sys.argv[4])
    with bmtrace.run(sys.argv[1], side=sys.argv[2]):
        for i in range(2):
            with bmtrace.sample("s%d" % i):
                normalize(resize(decode(i)))
'''


@pytest.fixture
def pipe_runs(tmp_path):
    """Factory: pipe_runs(name, shift, scale) records the module-level pipeline above in a subprocess."""
    import os
    import subprocess
    import sys

    from .conftest import REPO

    script = tmp_path / "pipe.py"
    script.write_text(PIPE)

    def record(name, shift=0, scale=255.0):
        env = dict(os.environ, PYTHONPATH=REPO)
        subprocess.run([sys.executable, str(script), str(tmp_path / name), name, str(shift), str(scale)],
                       check=True, env=env, cwd=str(tmp_path))
        return str(tmp_path / name)

    return record


def test_stage_entry_accepts_any_tensor_of_the_stage(pipe_runs):
    """A hand-written {"stage": "resize", "tensor": null} entry accepts resize's output difference."""
    doc = {"format": "bmtrace-accepted", "format_version": 1,
           "accepted": [{"stage": "resize", "tensor": None, "status": "diverged", "max_abs_diff": 255}]}
    result = bmtrace.diff(pipe_runs("a"), pipe_runs("b", shift=60), accepted=doc, explain=False)
    resize = [e for e in result.stages if e.stage == "resize"]
    assert all(e.status == "accepted" for e in resize)
    assert result.accepted["used"] == ["resize"]


def test_isolation_accepts_stages_that_only_inherit_an_accepted_difference(pipe_runs):
    """With --isolate, normalize (which only inherits resize's accepted difference) passes: exit 0."""
    doc = {"format": "bmtrace-accepted", "format_version": 1,
           "accepted": [{"stage": "resize", "tensor": None, "status": "diverged", "max_abs_diff": 255}]}
    a, b = pipe_runs("a"), pipe_runs("b", shift=60)
    assert bmtrace.diff(a, b, accepted=doc, explain=False).exit_code == 1  # without isolation: normalize fails
    result = bmtrace.diff(a, b, accepted=doc, explain=False, isolate=True)
    assert result.exit_code == 0, result.to_json()["summary"]


def test_isolation_still_fails_a_stage_that_adds_its_own_difference(pipe_runs):
    """A normalize with another scale introduces error of its own: not accepted, exit 1, named beyond."""
    doc = {"format": "bmtrace-accepted", "format_version": 1,
           "accepted": [{"stage": "resize", "tensor": None, "status": "diverged", "max_abs_diff": 255}]}
    result = bmtrace.diff(pipe_runs("a"), pipe_runs("c", shift=60, scale=200.0), accepted=doc, explain=False,
                          isolate=True)
    assert result.exit_code == 1 and result.first_divergence.stage == "normalize"
    assert result.accepted["beyond"] == ["normalize.out"]


def test_report_takes_the_accepted_file(noisy, cli, tmp_path):
    """`bmtrace report --accepted FILE` judges like the diff gate: exit 0 and the page says accepted."""
    pytest.importorskip("matplotlib")
    path, out = tmp_path / "accepted.json", tmp_path / "r.html"
    cli("diff", *noisy, "--accept-current", path)
    proc = cli("report", *noisy, "-o", out, "--accepted", path)
    assert proc.returncode == 0, proc.stderr
    assert ">accepted<" in out.read_text()
