"""`bmtrace record --auto` through the real entry point, on unmodified programs."""
import hashlib
import json
import os
import subprocess
import sys
import textwrap

import cv2
import numpy as np
import pytest

import bmtrace

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PROGRAMS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "programs")


def _env():
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([ROOT] + [p for p in [env.get("PYTHONPATH")] if p])
    env["OMP_NUM_THREADS"] = "1"
    for name in list(env):
        if name.startswith("BMTRACE_"):
            env.pop(name)
    return env


def _run(args, env=None):
    return subprocess.run(args, capture_output=True, text=True, env=env or _env(), timeout=120)


def _bmtrace(*args, env=None):
    return _run([sys.executable, "-m", "bmtrace"] + list(args), env=env)


@pytest.fixture
def grey_images(tmp_path):
    """Three grey noise PNGs (equal channels, so a forgotten BGR->RGB changes nothing)."""
    paths = []
    for i in range(3):
        grey = np.random.default_rng(i).integers(0, 256, (48, 64), dtype=np.uint8)
        path = str(tmp_path / ("grey%d.png" % i))
        cv2.imwrite(path, np.dstack([grey] * 3))
        paths.append(path)
    return paths


def _outputs(directory):
    return {name: hashlib.sha256(open(os.path.join(directory, name), "rb").read()).hexdigest()
            for name in sorted(os.listdir(directory))}


def test_auto_records_an_unmodified_program_and_changes_none_of_its_bytes(tmp_path, grey_images):
    """record --auto records decode/color/resize/normalize per image of a program without bmtrace, and the
    program prints and writes exactly the same bytes as when run alone."""
    plain, traced = tmp_path / "plain", tmp_path / "traced"
    plain.mkdir()
    traced.mkdir()
    program = os.path.join(PROGRAMS, "original_pil.py")
    without = _run([sys.executable, program, str(plain)] + grey_images)
    with_auto = _bmtrace("record", "--out", str(tmp_path / "run"), "--auto", "--", sys.executable, program,
                         str(traced), *grey_images)
    assert without.returncode == with_auto.returncode == 0, with_auto.stderr
    assert with_auto.stdout == without.stdout and without.stdout.count("\n") == 3
    assert _outputs(str(traced)) == _outputs(str(plain))
    run = bmtrace.open_run(str(tmp_path / "run"))
    assert run.samples() == [os.path.basename(p) for p in grey_images]
    assert [c.stage for c in run.calls(sample="grey0.png")] == ["decode", "color", "resize", "normalize"]
    assert "recorded nothing" not in with_auto.stderr


def test_auto_with_a_subset_of_libraries(tmp_path, grey_images):
    """--auto PIL records the Pillow calls only, not the OpenCV ones next to them."""
    script = tmp_path / "mixed.py"
    script.write_text(textwrap.dedent("""
        import sys, cv2
        from PIL import Image
        img = cv2.resize(cv2.imread(sys.argv[1]), (8, 8))
        Image.fromarray(img).resize((4, 4))
    """))
    proc = _bmtrace("record", "--out", str(tmp_path / "run"), "--auto", "PIL", "--", sys.executable, str(script),
                    grey_images[0])
    assert proc.returncode == 0, proc.stderr
    run = bmtrace.open_run(str(tmp_path / "run"))
    assert [c.function["op"] for c in run.calls()] == ["PIL.Image.Image.resize"]


def test_exit_code_of_the_program_is_passed_on(tmp_path):
    """record exits with the program's own exit code, with and without --auto."""
    script = tmp_path / "fail.py"
    script.write_text("import sys\nsys.exit(7)\n")
    for extra in ([], ["--auto"]):
        proc = _bmtrace("record", "--out", str(tmp_path / ("run%d" % len(extra))), *extra, "--",
                        sys.executable, str(script))
        assert proc.returncode == 7, proc.stderr


def test_warns_when_the_program_records_into_its_own_run(tmp_path):
    """A program that opens its own run leaves the given run empty, and record says so on stderr."""
    proc = _bmtrace("record", "--out", str(tmp_path / "given"), "--auto", "--", sys.executable,
                    os.path.join(PROGRAMS, "own_run.py"), str(tmp_path / "own"))
    assert proc.returncode == 0, proc.stderr
    assert "recorded nothing into %s" % (tmp_path / "given") in proc.stderr
    assert "started its own run" in proc.stderr
    assert bmtrace.open_run(str(tmp_path / "own")).stages() == ["resize"]


def test_no_warning_when_something_was_recorded(tmp_path, grey_images):
    """A run that received records gets no 'recorded nothing' warning."""
    out = tmp_path / "out"
    out.mkdir()
    proc = _bmtrace("record", "--out", str(tmp_path / "run"), "--auto", "--", sys.executable,
                    os.path.join(PROGRAMS, "port_cv2.py"), str(out), grey_images[0])
    assert proc.returncode == 0 and "recorded nothing" not in proc.stderr, proc.stderr


def test_unknown_library_is_refused_before_running(tmp_path):
    """--auto cv3 fails with the known library names and runs nothing."""
    proc = _bmtrace("record", "--out", str(tmp_path / "run"), "--auto", "cv3", "--", sys.executable, "-c",
                    "open(%r, 'w')" % str(tmp_path / "ran"))
    assert proc.returncode != 0 and "cv2, PIL, torchvision" in proc.stderr
    assert not (tmp_path / "ran").exists()


def test_program_taken_for_a_library_list_gets_a_hint(tmp_path):
    """`--auto python prog.py` without -- says to end the options with --."""
    script = tmp_path / "prog.py"
    script.write_text("pass\n")
    proc = _bmtrace("record", "--out", str(tmp_path / "run"), "--auto", sys.executable, str(script))
    assert proc.returncode != 0 and "--auto -- python prog.py" in proc.stderr


def test_sample_from_needs_auto(tmp_path):
    """--sample-from without --auto is a usage error."""
    proc = _bmtrace("record", "--out", str(tmp_path / "run"), "--sample-from", "frame", "--", sys.executable, "-c", "0")
    assert proc.returncode != 0 and "--sample-from only applies with --auto" in proc.stderr


def test_spawned_workers_are_traced_too(tmp_path, grey_images):
    """Worker processes started with spawn record their library calls into the same run."""
    script = tmp_path / "workers.py"
    script.write_text(textwrap.dedent("""
        import multiprocessing, sys, cv2

        def work(path):
            return cv2.resize(cv2.imread(path), (8, 8)).shape

        if __name__ == "__main__":
            with multiprocessing.get_context("spawn").Pool(2) as pool:
                print(pool.map(work, sys.argv[1:]))
    """))
    proc = _bmtrace("record", "--out", str(tmp_path / "run"), "--auto", "cv2", "--", sys.executable, str(script),
                    *grey_images[:2])
    assert proc.returncode == 0, proc.stderr
    run = bmtrace.open_run(str(tmp_path / "run"))
    assert sorted(run.samples()) == ["grey0.png", "grey1.png"]
    assert len({c.pid for c in run.calls()}) >= 1 and len(run.calls(stage="resize")) == 2


def test_env_var_auto_in_a_bmtrace_dir_child(tmp_path):
    """BMTRACE_DIR + BMTRACE_AUTO: a decorated program's run also records its library calls once active."""
    script = tmp_path / "prog.py"
    script.write_text(textwrap.dedent("""
        import cv2, numpy as np, bmtrace

        @bmtrace.trace_stage("prepare")
        def prepare():
            return np.zeros((8, 8), np.uint8)

        img = prepare()  # the first traced call starts the run
        cv2.resize(img, (4, 4))
    """))
    env = _env()
    env.update({"BMTRACE_DIR": str(tmp_path / "run"), "BMTRACE_AUTO": "cv2"})
    proc = _run([sys.executable, str(script)], env=env)
    assert proc.returncode == 0, proc.stderr
    assert [c.stage for c in bmtrace.open_run(str(tmp_path / "run")).calls()] == ["prepare", "resize"]


def _record_both_auto(tmp_path, images):
    """original_pil.py and port_cv2.py recorded with `bmtrace record --auto`: {"original": run, "port": run}."""
    runs = {}
    for side, program in (("original", "original_pil.py"), ("port", "port_cv2.py")):
        out = tmp_path / ("out_" + side)
        out.mkdir()
        runs[side] = str(tmp_path / side)
        proc = _bmtrace("record", "--out", runs[side], "--side", side, "--auto", "--", sys.executable,
                        os.path.join(PROGRAMS, program), str(out), *images)
        assert proc.returncode == 0, proc.stderr
    return runs


def test_diff_pairs_resize_across_libraries(tmp_path, grey_images):
    """Auto-recorded PIL/torchvision and cv2 programs: diff pairs resize with resize, color is only in A."""
    runs = _record_both_auto(tmp_path, grey_images)
    proc = _bmtrace("diff", runs["original"], runs["port"], "--json")
    assert proc.returncode == 1, proc.stderr
    report = json.loads(proc.stdout)
    assert report["first_divergence"]["stage"] == "resize"
    status = {}
    for entry in report["stages"]:
        status.setdefault(entry["stage"], set()).add(entry["status"])
    assert status["decode"] == {"aligned"} and status["resize"] == {"diverged"}
    assert status["color"] == {"only_in_a"}
    table = _bmtrace("diff", runs["original"], runs["port"]).stdout
    assert "resize" in table and "color" in table
    call_a = bmtrace.open_run(runs["original"]).calls(stage="resize")[0]
    call_b = bmtrace.open_run(runs["port"]).calls(stage="resize")[0]
    assert (call_a.function["op"], call_b.function["op"]) == ("torchvision.transforms.Resize", "cv2.resize")
    resize = [e for e in report["stages"] if e["stage"] == "resize"][0]
    assert (resize["op_a"], resize["op_b"]) == ("torchvision.transforms.Resize", "cv2.resize")
    row = next(line for line in table.splitlines() if " resize " in line)
    assert "torchvision.transforms.Resize(" in row and "vs cv2.resize(" in row


def test_attribute_on_auto_runs_reruns_auto_traced_and_claims_no_substitution(tmp_path, grey_images):
    """`bmtrace attribute` of two --auto runs: the re-runs of the undecorated port are auto-traced as its
    recording was (they recorded nothing before), and as --auto does not replace a library call's values,
    no stage is reported as tested by substitution: each says why instead."""
    runs = _record_both_auto(tmp_path, grey_images)
    proc = json.load(open(next(iter(sorted((tmp_path / "port" / "procs").glob("*.json"))))))
    assert proc["auto"]["libraries"] and proc["auto"]["sample_from"] == "decode"
    assert not any(name.startswith("BMTRACE") for name in proc["env"])  # not an environment difference
    out = tmp_path / "out_rerun"
    out.mkdir()
    proc = _bmtrace("attribute", runs["original"], runs["port"], "--json", "--", sys.executable,
                    os.path.join(PROGRAMS, "port_cv2.py"), str(out), *grey_images)
    assert proc.returncode in (0, 1), proc.stderr
    doc = json.loads(proc.stdout)
    resize = {e["stage"]: e for e in doc["stages"]}["resize"]
    # its inputs agree as recorded (grey images): its own difference needs no re-run
    assert resize["local"] == "diverged" and resize["local_by"].startswith("recorded")
    assert resize["restored"] is None and "recorded by --auto" in resize["restored_note"]
    assert doc["culprit"] is None
    assert doc["message"].endswith("the first stage that differs on A's inputs is resize"), doc["message"]
