"""Issue 12.2: a trace is data; replay and --isolate never run code a crafted trace names."""
import json
import os
import shutil
import subprocess
import sys

import pytest

WORKTREE = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

PROGRAM = '''
import sys
import numpy as np
import bmtrace

FACTOR = 1.0  # side b sets 2.0 when it runs as a program


@bmtrace.trace_stage("stage")
def stage(command):
    return np.full(3, FACTOR, np.float32)


if __name__ == "__main__":
    FACTOR = {"a": 1.0, "b": 2.0}[sys.argv[2]]
    with bmtrace.run(sys.argv[1], side=sys.argv[2], overwrite=True):
        with bmtrace.sample("s0"):
            stage(sys.argv[3])
'''

# Module-level code and the function both leave the marker: importing is already running code.
OUTSIDE = '''
import pathlib
pathlib.Path(r"{marker}").write_text("imported")


def stage(command):
    pathlib.Path(r"{marker}").write_text("called")
    return command
'''


def _env():
    env = dict(os.environ, PYTHONPATH=WORKTREE + os.pathsep + os.environ.get("PYTHONPATH", ""))
    for key in [k for k in env if k.startswith("BMTRACE_")]:
        env.pop(key)
    return env


def _bmtrace(args, cwd):
    return subprocess.run([sys.executable, "-m", "bmtrace"] + [str(a) for a in args], cwd=str(cwd), env=_env(),
                          capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def recorded(tmp_path_factory):
    """A user's program folder and its runs: A, B, and B runs whose input is a shell command or Python source."""
    base = tmp_path_factory.mktemp("trust")
    prog = base / "prog"
    prog.mkdir()
    (prog / "pipeline.py").write_text(PROGRAM)
    markers = {"shell": base / "shell-marker", "exec": base / "exec-marker"}
    commands = {"a": ("a", "harmless"), "b": ("b", "x"), "b_shell": ("b", "touch %s" % markers["shell"]),
                "b_exec": ("b", "open(r'%s', 'w').close()" % markers["exec"])}
    procs = [subprocess.Popen([sys.executable, "pipeline.py", str(prog / "runs" / name), side, command],
                              cwd=str(prog), env=_env()) for name, (side, command) in commands.items()]
    assert all(p.wait(timeout=120) == 0 for p in procs)
    return {"prog": prog, "markers": markers}


@pytest.fixture
def lab(tmp_path, recorded):
    """Fresh copies of the recorded runs, an unrelated folder bmtrace runs from, and a marker file."""
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "work").mkdir()

    def copy(name):
        target = tmp_path / "runs" / name
        shutil.copytree(str(recorded["prog"] / "runs" / name), str(target))
        return target

    return {"tmp": tmp_path, "prog": recorded["prog"], "work": tmp_path / "work", "marker": tmp_path / "marker",
           "copy": copy, "markers": [tmp_path / "marker"] + list(recorded["markers"].values())}


def _craft(run, identity):
    """Rewrite every journal record of ``run`` so it names ``identity`` as its stage function."""
    journal_dir = run / "journal"
    for journal in journal_dir.iterdir():
        records = [json.loads(line) for line in journal.read_text().splitlines()]
        for record in records:
            record["function"] = identity
        journal.write_text("".join(json.dumps(r) + "\n" for r in records))


def _attack(lab, identity, b_run="b"):
    run_a, run_b = lab["copy"]("a"), lab["copy"](b_run)
    _craft(run_a, identity)
    return run_a, run_b


def _assert_refused(out, lab):
    for marker in lab["markers"]:
        assert not marker.exists(), "the crafted trace ran code: %s exists" % marker
    assert "Traceback" not in out.stderr
    assert "--trust-recorded" in out.stderr


def test_isolate_does_not_call_os_system(lab):
    """A trace naming os.system with a recorded shell command: diff --isolate runs nothing and says why."""
    run_a, run_b = _attack(lab, {"kind": "function", "module": "os", "qualname": "system", "file": None},
                           "b_shell")
    out = _bmtrace(["diff", run_a, run_b, "--isolate"], lab["work"])
    assert out.returncode == 1, out.stderr
    _assert_refused(out, lab)
    assert "not replaying stage stage" in out.stderr and "system" in out.stderr
    assert "not tested: stage" in out.stdout


def test_isolate_does_not_call_builtins_exec(lab):
    """A trace naming builtins.exec with recorded Python source: the source never runs."""
    run_a, run_b = _attack(lab, {"kind": "function", "module": "builtins", "qualname": "exec", "file": None},
                           "b_exec")
    out = _bmtrace(["diff", run_a, run_b, "--isolate", "--json"], lab["work"])
    assert out.returncode == 1, out.stderr
    _assert_refused(out, lab)
    (entry,) = json.loads(out.stdout)["stages"]
    assert entry["local"]["status"] == "unavailable" and entry["local"]["needs"] == "--trust-recorded"


def test_isolate_does_not_import_a_file_outside_the_program(lab):
    """A trace naming a .py file outside the recorded program's folder and the cwd is not even imported."""
    evil = lab["tmp"] / "elsewhere" / "evil.py"
    evil.write_text(OUTSIDE.format(marker=lab["marker"]))
    run_a, run_b = _attack(lab, {"kind": "function", "module": "__main__", "qualname": "stage", "file": str(evil)})
    out = _bmtrace(["diff", run_a, run_b, "--isolate"], lab["work"])
    _assert_refused(out, lab)
    assert str(evil) in out.stderr and "outside the recorded program's directory" in out.stderr


def test_trust_recorded_imports_what_the_trace_names(lab):
    """--trust-recorded is the one switch: the same outside file is imported and called with it."""
    evil = lab["tmp"] / "elsewhere" / "evil.py"
    evil.write_text(OUTSIDE.format(marker=lab["marker"]))
    run_a, run_b = _attack(lab, {"kind": "function", "module": "__main__", "qualname": "stage", "file": str(evil)})
    out = _bmtrace(["diff", run_a, run_b, "--isolate", "--trust-recorded"], lab["work"])
    assert lab["marker"].read_text() == "called", out.stderr
    assert "imported stage from %s" % evil in out.stderr


def test_isolate_does_not_import_code_shipped_inside_the_run(lab):
    """A .py file inside the run directory (shipped with the trace) is refused even under the cwd."""
    run_a, run_b = lab["copy"]("a"), lab["copy"]("b")
    shipped = run_a / "payloads" / "evil.py"
    shipped.write_text(OUTSIDE.format(marker=lab["marker"]))
    _craft(run_a, {"kind": "function", "module": "__main__", "qualname": "stage", "file": str(shipped)})
    out = _bmtrace(["diff", run_a, run_b, "--isolate"], lab["tmp"])  # the run lies under the cwd
    _assert_refused(out, lab)
    assert "inside the run directory" in out.stderr


def test_qualname_cannot_reach_through_an_imported_module(lab):
    """The user's own file, but a qualname `os.system` reaching through its `import os`, is refused."""
    user_file = lab["prog"] / "helpers.py"
    user_file.write_text("import os\n\n\ndef stage(command):\n    return command\n")
    run_a, run_b = _attack(lab, {"kind": "function", "module": "helpers", "qualname": "os.system",
                                 "file": str(user_file)}, "b_shell")
    out = _bmtrace(["diff", run_a, run_b, "--isolate"], lab["work"])
    _assert_refused(out, lab)
    assert "not a function defined in" in out.stderr


def test_recorded_root_directory_does_not_widen_the_allowed_folders(lab):
    """A crafted process record claiming cwd `/` does not make every file on the machine importable."""
    evil = lab["tmp"] / "elsewhere" / "evil.py"
    evil.write_text(OUTSIDE.format(marker=lab["marker"]))
    run_a, run_b = _attack(lab, {"kind": "function", "module": "__main__", "qualname": "stage", "file": str(evil)})
    for proc_file in (run_a / "procs").iterdir():
        doc = json.loads(proc_file.read_text())
        doc.update(cwd="/", argv=["-c"])
        proc_file.write_text(json.dumps(doc))
    out = _bmtrace(["diff", run_a, run_b, "--isolate"], lab["work"])
    _assert_refused(out, lab)


def test_replay_without_call_refuses_os_system(lab):
    """`bmtrace replay B --against A` (function from A's trace) refuses os.system with exit 2 and a message."""
    run_a, run_b = _attack(lab, {"kind": "function", "module": "os", "qualname": "system", "file": None},
                           "b_shell")
    out = _bmtrace(["replay", run_b, "--stage", "stage", "--against", run_a], lab["work"])
    assert out.returncode == 2
    _assert_refused(out, lab)
    assert out.stderr.startswith("bmtrace replay: error:")


def test_users_own_functions_replay_by_default(lab):
    """Genuine runs: isolation imports the user's own stage function, says so, and tests the stage."""
    run_a, run_b = lab["copy"]("a"), lab["copy"]("b")
    out = _bmtrace(["diff", run_a, run_b, "--isolate", "--json"], lab["work"])
    assert out.returncode == 1, out.stderr
    assert "imported stage from %s" % (lab["prog"] / "pipeline.py") in out.stderr
    doc = json.loads(out.stdout)
    assert doc["isolation"]["introduced_at"] == "stage"
    trusted = _bmtrace(["diff", run_a, run_b, "--isolate", "--json", "--trust-recorded"], lab["work"])
    assert json.loads(trusted.stdout)["isolation"]["introduced_at"] == "stage"


def test_replay_without_call_uses_the_users_recorded_function(lab):
    """`bmtrace replay B --against A` imports A's own stage function from A's program folder and replays it."""
    run_a, run_b = lab["copy"]("a"), lab["copy"]("b")
    out = _bmtrace(["replay", run_b, "--stage", "stage", "--against", run_a, "--json"], lab["work"])
    assert out.returncode == 1, out.stderr
    doc = json.loads(out.stdout)
    assert doc["imported"] == ["stage from %s" % (lab["prog"] / "pipeline.py")]
    assert doc["samples"][0]["status"] == "diverged"


def test_library_replay_refuses_untrusted_function(lab):
    """bmtrace.replay(..., fn=None) raises UntrustedCodeError for os.system unless trust_recorded=True."""
    import bmtrace
    from bmtrace.errors import UntrustedCodeError

    run_a, run_b = _attack(lab, {"kind": "function", "module": "os", "qualname": "system", "file": None},
                           "b_shell")
    with pytest.raises(UntrustedCodeError, match="trust_recorded=True"):
        bmtrace.replay(str(run_b), "stage", like=str(run_a))
    assert not any(marker.exists() for marker in lab["markers"])


def test_torch_function_fed_numpy_says_how_to_fix(tmp_path):
    """A torch-only function replayed on numpy inputs without --against gets a hint naming --against."""
    import bmtrace

    def torch_only(boxes):
        return boxes.device.type  # numpy >= 2 arrays have .device == "cpu", a str

    with bmtrace.run(tmp_path / "run", overwrite=True):
        with bmtrace.trace_stage("nms") as st:
            boxes = __import__("numpy").ones((2, 4), "float32")
            st.input(boxes=boxes)
            st.output(boxes)
    result = bmtrace.replay(tmp_path / "run", "nms", torch_only)
    (sample,) = result.samples
    assert sample.status == "error" and sample.error["where"].endswith("in torch_only")
    assert "--against" in sample.error["hint"] and "boxes" in sample.error["hint"]


def test_trust_recorded_flag_on_every_replaying_command():
    """The flag named in refusals exists on diff, report and replay."""
    from bmtrace.cli import build_parser

    parser = build_parser()
    for command in ("diff", "report", "replay"):
        args = parser.parse_args([command, "x", "y", "--trust-recorded"] if command != "replay"
                                 else [command, "x", "--stage", "s", "--trust-recorded"])
        assert args.trust_recorded is True
