"""Issue 12.7: bad input gives a clear error through the real entry point, never a traceback.

Every case runs `python -m bmtrace ...` on a damaged copy of a real run and asserts the exit code
(2 error / 4 usage; never 1, which means "diverged", never 70, which means "bug in bmtrace"), no
"Traceback" on stderr, and a message that names the offending file.
"""
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

import bmtrace
from payload_files import damage

WORKTREE = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PROGRAM = "def resize(img):\n    return img[::2, ::2]\n"


def _env():
    env = dict(os.environ, PYTHONPATH=WORKTREE + os.pathsep + os.environ.get("PYTHONPATH", ""))
    for key in [k for k in env if k.startswith("BMTRACE_")]:
        env.pop(key)
    return env


def bmtrace_cli(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "bmtrace"] + [str(a) for a in args], capture_output=True,
                          text=True, env=_env(), cwd=None if cwd is None else str(cwd), timeout=120)


def _record(path, samples=("a.jpg", "b.jpg"), stage="resize"):
    with bmtrace.run(path, side="port", overwrite=True):
        for key in samples:
            with bmtrace.sample(key):
                with bmtrace.trace_stage(stage) as st:
                    img = np.arange(48, dtype=np.uint8).reshape(4, 4, 3)
                    st.input(img=img)
                    st.output(img[::2, ::2])
    return path


@pytest.fixture(scope="module")
def pristine(tmp_path_factory):
    base = tmp_path_factory.mktemp("bad-inputs")
    return {"a": _record(base / "a"), "b": _record(base / "b")}


@pytest.fixture
def runs(pristine, tmp_path):
    """Fresh copies of two identical runs, to be damaged by one test."""
    copies = {}
    for name, path in pristine.items():
        copies[name] = tmp_path / name
        shutil.copytree(str(path), str(copies[name]))
    (tmp_path / "prog.py").write_text(PROGRAM)
    return copies


def assert_clear_error(out, names, codes=(2,)):
    """Exit code in ``codes``, no traceback, and the offending file named on stderr."""
    assert out.returncode in codes, "exit %d\n%s" % (out.returncode, out.stderr)
    assert "Traceback" not in out.stderr, out.stderr
    assert "internal error" not in out.stderr, out.stderr
    assert os.path.basename(str(names)) in out.stderr, out.stderr


def _journal(run):
    (journal,) = sorted((run / "journal").iterdir())
    return journal


# -- run.json ------------------------------------------------------------------------------------
@pytest.mark.parametrize("content", [b"\x00\xffnot json{", b"", b"[1, 2]"], ids=["garbage", "empty", "list"])
@pytest.mark.parametrize("command", ["show", "diff"])
def test_bad_run_json(runs, content, command):
    """A garbage, empty or non-object run.json is an error naming run.json."""
    (runs["b"] / "run.json").write_bytes(content)
    out = bmtrace_cli("show", runs["b"]) if command == "show" else bmtrace_cli("diff", runs["a"], runs["b"])
    assert_clear_error(out, runs["b"] / "run.json")


# -- journal -------------------------------------------------------------------------------------
def _bad_lines(run):
    good = json.loads(_journal(run).read_text().splitlines()[0])
    not_a_list = dict(good, inputs="notalist", id=good["id"] + "x")
    return {"empty-object": "{}", "list": "[1, 2]", "inputs-not-a-list": json.dumps(not_a_list)}


@pytest.mark.parametrize("kind", ["empty-object", "list", "inputs-not-a-list"])
@pytest.mark.parametrize("command", ["show", "diff"])
def test_bad_journal_line(runs, kind, command):
    """A journal line that is `{}`, `[1,2]` or has `inputs: "notalist"` is an error naming the journal."""
    journal = _journal(runs["b"])
    lines = journal.read_text().splitlines()
    lines.insert(1, _bad_lines(runs["b"])[kind])  # in the middle: not a torn last write
    journal.write_text("\n".join(lines) + "\n")
    out = bmtrace_cli("show", runs["b"]) if command == "show" else bmtrace_cli("diff", runs["a"], runs["b"])
    assert_clear_error(out, journal)


@pytest.mark.parametrize("command", ["show", "diff"])
def test_journal_file_that_is_a_directory(runs, command):
    """A directory where a journal file should be is an error naming it."""
    odd = runs["b"] / "journal" / "0-odd.jsonl"
    odd.mkdir()
    out = bmtrace_cli("show", runs["b"]) if command == "show" else bmtrace_cli("diff", runs["a"], runs["b"])
    assert_clear_error(out, odd)


# -- payloads ------------------------------------------------------------------------------------
def test_deleted_payload_under_show(runs):
    """show on a run with a deleted payload says which payload file is missing (exit 2)."""
    victim = damage(bmtrace.open_run(runs["b"]).calls()[0].inputs[0], "deleted")
    out = bmtrace_cli("show", runs["b"])
    assert_clear_error(out, victim)


@pytest.mark.parametrize("how", ["deleted", "truncated", "pickled"])
def test_damaged_payload_under_replay(runs, how):
    """replay with a deleted, truncated or pickled input payload is an error naming the payload."""
    victim = damage(bmtrace.open_run(runs["b"]).calls()[0].inputs[0], how)  # the first call's input
    out = bmtrace_cli("replay", runs["b"], "--stage", "resize", "--call", "prog.py:resize", cwd=runs["b"].parent)
    assert_clear_error(out, victim)


# -- other commands ------------------------------------------------------------------------------
def test_report_diff_json_holding_a_list(runs, tmp_path):
    """report --diff-json FILE where FILE holds `[]` is an error naming FILE."""
    doc = tmp_path / "diff.json"
    doc.write_text("[]")
    out = bmtrace_cli("report", runs["a"], runs["b"], "--diff-json", doc, "-o", tmp_path / "r.html")
    assert_clear_error(out, doc)


def test_diff_html_into_a_directory(runs, tmp_path):
    """diff --html DIR (an existing directory) is an error naming DIR."""
    pytest.importorskip("matplotlib")
    target = tmp_path / "report-dir"
    target.mkdir()
    out = bmtrace_cli("diff", runs["a"], runs["b"], "--html", target)
    assert_clear_error(out, target)


def test_record_out_unwritable(tmp_path):
    """record --out /proc/nope/run (cannot be created) is an error naming the path."""
    out = bmtrace_cli("record", "--out", "/proc/nope/run", "--", sys.executable, "-c", "pass")
    assert_clear_error(out, "/proc/nope")


def test_usage_error_exits_4(runs):
    """An unknown option is a usage error: exit 4 with the usage line, never 1 or 2."""
    out = bmtrace_cli("diff", runs["a"], runs["b"], "--no-such-option")
    assert out.returncode == 4 and "usage:" in out.stderr and "--no-such-option" in out.stderr
    assert "Traceback" not in out.stderr


def test_stdout_closed_early(runs):
    """The reader of stdout goes away before bmtrace writes: exit 141, nothing on stderr."""
    proc = subprocess.Popen([sys.executable, "-m", "bmtrace", "diff", str(runs["a"]), str(runs["b"])],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=_env())
    proc.stdout.close()  # closed before the child has printed anything
    stderr = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 141 and stderr == ""


# -- names from non-UTF-8 file systems ------------------------------------------------------------
SURROGATE_KEY = os.fsdecode(b"img\xff.jpg")  # what os.listdir gives for a Latin-1 name on a UTF-8 system
SURROGATE_STAGE = os.fsdecode(b"resize\xfe")


@pytest.fixture
def surrogate_runs(tmp_path):
    return {side: _record(tmp_path / side, samples=(SURROGATE_KEY, "plain.jpg"), stage=SURROGATE_STAGE)
            for side in ("a", "b")}


def test_surrogate_names_show(surrogate_runs):
    """show prints sample keys and stage names with lone surrogates as escapes, exit 0."""
    out = bmtrace_cli("show", surrogate_runs["a"])
    assert out.returncode == 0 and "Traceback" not in out.stderr, out.stderr
    assert "resize\\udcfe" in out.stdout


def test_surrogate_names_diff(surrogate_runs):
    """diff of two runs with surrogate names pairs them and exits 0."""
    out = bmtrace_cli("diff", surrogate_runs["a"], surrogate_runs["b"])
    assert out.returncode == 0 and "Traceback" not in out.stderr, out.stderr


def test_surrogate_names_leave_no_temporary_files(surrogate_runs):
    """Reading a run with surrogate names builds its index without leaving *.tmp files behind."""
    bmtrace_cli("show", surrogate_runs["a"])
    leftovers = [p for p in surrogate_runs["a"].rglob("*") if ".tmp" in p.name]
    assert leftovers == []
