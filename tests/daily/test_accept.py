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
