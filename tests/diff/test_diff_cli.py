"""`bmtrace diff` through its real entry points: exit codes, options, output."""
import json
import os
import subprocess
import sys

import pytest

from bmtrace.cli import main

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _run_cli(*args):
    env = dict(os.environ, PYTHONPATH=REPO + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.run([sys.executable, "-m", "bmtrace", "diff"] + list(args),
                          capture_output=True, text=True, env=env)


def test_exit_code_0_when_aligned(runs):
    """Identical programs exit 0 and print ALIGNED."""
    proc = _run_cli(runs("a"), runs("b"))
    assert proc.returncode == 0, proc.stderr
    assert "ALIGNED" in proc.stdout


def test_exit_code_1_and_marker_when_diverged(runs):
    """A divergence exits 1; the table marks resize; no colours on a pipe."""
    proc = _run_cli(runs("a"), runs("b", resize_shift=1))
    assert proc.returncode == 1
    marked = [line for line in proc.stdout.splitlines() if line.startswith(">>")]
    assert len(marked) == 1 and "resize" in marked[0]
    assert "\x1b[" not in proc.stdout


def test_exit_code_2_for_a_missing_run(runs, tmp_path):
    """A path that is not a run exits 2 with the path in the message."""
    proc = _run_cli(runs("a"), str(tmp_path / "missing"))
    assert proc.returncode == 2
    assert "missing" in proc.stderr


def test_exit_code_2_for_bad_tol_option(runs):
    """A malformed --tol is a usage error (exit 2)."""
    assert main(["diff", runs("a"), runs("b"), "--tol", "resize"]) == 2


def test_exit_code_1_when_a_sample_is_missing(runs):
    """A sample skipped by B is a failure (exit 1) even without a value divergence."""
    assert main(["diff", runs("a", ["x.jpg", "y.jpg"]), runs("b", ["x.jpg"]), "-q"]) == 1


def test_exit_code_2_when_nothing_pairs(runs, capsys):
    """Nothing paired: exit 2 with both sides listed."""
    code = main(["diff", runs("a"), runs("b", names={"decode": "d", "resize": "r",
                                                     "normalize": "n", "infer": "i"})])
    assert code == 2
    assert "run B" in capsys.readouterr().err


def test_json_option_prints_the_document(runs, capsys):
    """--json prints one strict JSON document on stdout."""
    code = main(["diff", runs("a"), runs("b", resize_shift=1), "--json"])
    doc = json.loads(capsys.readouterr().out)
    assert code == 1
    assert doc["first_divergence"]["stage"] == "resize"


def test_tol_option_makes_the_stage_pass(runs):
    """--tol resize=1 --tol normalize=0.005 --tol infer=0.005 accepts a one-LSB resize shift."""
    args = ["diff", runs("a"), runs("b", resize_shift=1), "-q"]
    assert main(args) == 1
    assert main(args + ["--tol", "resize=1", "--tol", "normalize=0.005", "--tol", "infer=0.005"]) == 0


def test_atol_option(runs):
    """--atol raises the float tolerance."""
    a, b = runs("a"), runs("b", logits_noise=0.01)
    assert main(["diff", a, b, "-q"]) == 1
    assert main(["diff", a, b, "-q", "--atol", "0.02"]) == 0


def test_map_option(runs):
    """--map A=B pairs renamed stages."""
    a, b = runs("a"), runs("b", names={"resize": "rsz"})
    assert main(["diff", a, b, "-q", "--map", "resize=rsz"]) == 0


def test_config_file_with_tolerances_and_map(runs, tmp_path):
    """--config reads tolerances and the stage map; CLI --atol overrides it."""
    config = tmp_path / "diff.json"
    config.write_text(json.dumps({"atol": 0.02, "map": {"resize": "rsz"}}))
    a, b = runs("a"), runs("b", names={"resize": "rsz"}, logits_noise=0.01)
    assert main(["diff", a, b, "-q", "--config", str(config)]) == 0
    assert main(["diff", a, b, "-q", "--config", str(config), "--atol", "0.001"]) == 1


def test_json_out_and_table_together(runs, tmp_path, capsys):
    """--json-out writes the document while the table goes to stdout."""
    out = tmp_path / "doc.json"
    main(["diff", runs("a"), runs("b", resize_shift=1), "--json-out", str(out)])
    assert "max abs diff" in capsys.readouterr().out
    assert json.loads(out.read_text())["aligned"] is False


def test_color_always_uses_ansi(runs, capsys):
    """--color always colours the table even on a pipe."""
    main(["diff", runs("a"), runs("b", resize_shift=1), "--color", "always"])
    assert "\x1b[31m" in capsys.readouterr().out


def test_isolate_fills_local_and_introduces(runs, tmp_path):
    """--isolate lets replay fill the stage entries' local and introduces fields."""
    out = tmp_path / "doc.json"
    assert main(["diff", runs("a"), runs("b", resize_shift=1), "--isolate", "-q",
                 "--json-out", str(out)]) == 1
    stages = json.loads(out.read_text())["stages"]
    assert any(s["introduces"] is not None for s in stages)


def test_html_option_writes_the_report(runs, tmp_path):
    """--html FILE writes the HTML report next to the table (issue 8 renders it)."""
    pytest.importorskip("matplotlib")
    out = tmp_path / "report.html"
    assert main(["diff", runs("a"), runs("b", resize_shift=1), "--html", str(out), "-q"]) == 1
    page = out.read_text()
    assert page.startswith("<!DOCTYPE html>") or "<html" in page[:500]
    assert "resize" in page
