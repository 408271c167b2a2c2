"""`bmtrace report RUN_A RUN_B -o FILE` through the real command-line entry point."""
import json
import os
import subprocess
import sys

import pytest

from .pipeline import record, write_images

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _bmtrace(*args):
    # tests/ on the path too: isolation replay imports the recorded stage functions (report.pipeline)
    path = os.pathsep.join([ROOT, os.path.join(ROOT, "tests"), os.environ.get("PYTHONPATH", "")])
    env = dict(os.environ, PYTHONPATH=path)
    return subprocess.run([sys.executable, "-m", "bmtrace", "report"] + list(args),
                          capture_output=True, text=True, env=env, timeout=300)


@pytest.fixture(scope="module")
def same_runs(tmp_path_factory):
    """Two recordings of the same pipeline with nothing planted."""
    base = str(tmp_path_factory.mktemp("same"))
    images = write_images(os.path.join(base, "images"), 2)
    return (record(os.path.join(base, "a"), "A", images), record(os.path.join(base, "b"), "B", images))


def test_diverged_runs_write_the_report_and_exit_1(planted_runs, tmp_path):
    """Runs that diverge give exit code 1, a report file, and a line naming the stage."""
    out = tmp_path / "report.html"
    proc = _bmtrace(planted_runs[0].path, planted_runs[1].path, "-o", str(out))
    assert proc.returncode == 1, proc.stderr
    assert "diverged at stage resize" in proc.stdout
    assert out.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")


def test_aligned_runs_exit_0(same_runs, tmp_path):
    """Two identical recordings give exit code 0 and an ALIGNED report."""
    out = tmp_path / "same.html"
    proc = _bmtrace(same_runs[0], same_runs[1], "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    assert '<div class="word">ALIGNED</div>' in out.read_text(encoding="utf-8")


def test_saved_diff_json_is_rendered_without_diffing(planted_runs, planted_doc, tmp_path):
    """--diff-json renders that document, not a new diff: with resize marked aligned in the saved
    document, the page names the next stage that is not aligned."""
    doc = json.loads(json.dumps(planted_doc))
    for entry in doc["stages"]:
        if entry["stage"] == "resize":
            entry["status"] = "aligned"
    saved = tmp_path / "diff.json"
    saved.write_text(json.dumps(doc), encoding="utf-8")
    out = tmp_path / "from_json.html"
    proc = _bmtrace(planted_runs[0].path, planted_runs[1].path, "--diff-json", str(saved), "-o", str(out))
    assert proc.returncode == 1, proc.stderr
    assert "stage to_rgb" in proc.stdout
    assert "<b>to_rgb</b>" in out.read_text(encoding="utf-8")


def test_missing_run_is_an_error_with_exit_2(planted_runs, tmp_path):
    """A path that is not a run exits 2 with a message naming it, and writes nothing."""
    out = tmp_path / "never.html"
    proc = _bmtrace(str(tmp_path / "nope"), planted_runs[1].path, "-o", str(out))
    assert proc.returncode == 2
    assert "nope" in proc.stderr and "not a bmtrace run" in proc.stderr
    assert not out.exists()


def test_bad_diff_json_is_a_usage_error(planted_runs, tmp_path):
    """A --diff-json file that is not JSON exits 2 and says how to make one."""
    bad = tmp_path / "bad.json"
    bad.write_text("{not json", encoding="utf-8")
    proc = _bmtrace(planted_runs[0].path, planted_runs[1].path, "--diff-json", str(bad), "-o",
                    str(tmp_path / "x.html"))
    assert proc.returncode == 2 and "bmtrace diff" in proc.stderr


def test_isolate_flag_reaches_the_diff(planted_runs, tmp_path):
    """--isolate runs isolation replay: the report shows resize introducing the error."""
    import importlib.util

    if importlib.util.find_spec("bmtrace.replayer") is None:
        pytest.skip("isolation replay (bmtrace.replayer) is not in this bmtrace")
    out = tmp_path / "iso.html"
    proc = _bmtrace(planted_runs[0].path, planted_runs[1].path, "--isolate", "--images-per-stage", "0",
                    "-o", str(out))
    assert proc.returncode == 1, proc.stderr
    assert "introduces error here" in out.read_text(encoding="utf-8")


def test_diff_html_option_writes_this_report(planted_runs, tmp_path):
    """`bmtrace diff A B --html FILE` writes the same kind of report (verdict and pictures)."""
    out = tmp_path / "from_diff.html"
    env_path = os.pathsep.join([ROOT, os.environ.get("PYTHONPATH", "")])
    proc = subprocess.run([sys.executable, "-m", "bmtrace", "diff", planted_runs[0].path, planted_runs[1].path,
                           "--html", str(out), "-q"], capture_output=True, text=True, timeout=300,
                          env=dict(os.environ, PYTHONPATH=env_path))
    assert proc.returncode == 1, proc.stderr
    html = out.read_text(encoding="utf-8")
    assert '<div id="first-divergence">' in html and "<b>resize</b>" in html
    assert "data:image/png;base64," in html
