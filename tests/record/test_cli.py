"""`bmtrace record` and `bmtrace show` through the real entry point."""
import json
import subprocess
import sys
import textwrap

import bmtrace


def _bmtrace(*args, **kwargs):
    return subprocess.run([sys.executable, "-m", "bmtrace"] + list(args), capture_output=True, text=True, **kwargs)


def test_record_traces_an_unmodified_launch_and_show_summarises(tmp_path):
    """record runs the program with tracing on, keeps its exit code, and show lists what was recorded."""
    script = tmp_path / "prog.py"
    script.write_text(textwrap.dedent("""
        import sys, numpy as np, bmtrace
        @bmtrace.trace_stage("resize")
        def resize(img):
            return img[::2, ::2]
        for name in sys.argv[1:]:
            with bmtrace.sample(name):
                resize(np.zeros((8, 8, 3), np.uint8))
        sys.exit(3)
    """))
    rec = _bmtrace("record", "--out", str(tmp_path / "run"), "--side", "port", "--", sys.executable, str(script),
                   "a.jpg", "b.jpg")
    assert rec.returncode == 3, rec.stderr
    run = bmtrace.open_run(tmp_path / "run")
    assert run.side == "port" and run.samples() == ["a.jpg", "b.jpg"] and run.meta["ended"]
    show = _bmtrace("show", str(tmp_path / "run"), "--json")
    summary = json.loads(show.stdout)
    assert (summary["samples"], summary["calls"], summary["tensors"]) == (2, 2, 4)
    assert summary["stages"][0]["stage"] == "resize" and summary["payload_bytes"] > 0
    text = _bmtrace("show", str(tmp_path / "run")).stdout
    assert "resize" in text and "2 samples" in text


def test_record_refuses_an_existing_run_without_overwrite(tmp_path):
    """record exits 2 with a clear message when the output directory holds a run."""
    (tmp_path / "prog.py").write_text("print('hi')\n")
    first = _bmtrace("record", "--out", str(tmp_path / "run"), "--", sys.executable, str(tmp_path / "prog.py"))
    assert first.returncode == 0
    second = _bmtrace("record", "--out", str(tmp_path / "run"), "--", sys.executable, str(tmp_path / "prog.py"))
    assert second.returncode == 2 and "--overwrite" in second.stderr


def test_show_on_a_missing_run_exits_2(tmp_path):
    """show names the path that holds no run."""
    result = _bmtrace("show", str(tmp_path / "nope"))
    assert result.returncode == 2 and "is not a bmtrace run" in result.stderr
