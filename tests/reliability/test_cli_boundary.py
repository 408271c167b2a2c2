"""The CLI boundary: every outcome becomes one message and a documented exit code."""
import io
import subprocess
import sys

import pytest

from bmtrace import cli
from bmtrace.commands import show
from bmtrace.errors import RunNotFoundError


def _raise(exc):
    def run(args):
        raise exc
    return run


def test_bmtrace_error_is_one_line_and_exit_2(monkeypatch, capsys):
    """A BmtraceError becomes `bmtrace CMD: error: ...` and exit 2."""
    monkeypatch.setattr(show, "run", _raise(RunNotFoundError("runs/x is not a bmtrace run")))
    assert cli.main(["show", "runs/x"]) == cli.EXIT_ERROR == 2
    assert capsys.readouterr().err == "bmtrace show: error: runs/x is not a bmtrace run\n"


def test_unexpected_exception_is_internal_error_70(monkeypatch, capsys):
    """Any other exception is an internal error with a pointer to report it, exit 70, no traceback."""
    monkeypatch.delenv("BMTRACE_DEBUG", raising=False)
    monkeypatch.setattr(show, "run", _raise(ValueError("boom")))
    assert cli.main(["show", "runs/x"]) == cli.EXIT_INTERNAL == 70
    err = capsys.readouterr().err
    assert err == ("bmtrace show: internal error: ValueError: boom; please report this with the command line "
                   "(traceback: BMTRACE_DEBUG=1)\n")


def test_debug_variable_adds_the_traceback(monkeypatch, capsys):
    """BMTRACE_DEBUG=1 prints the traceback before the internal-error line."""
    monkeypatch.setenv("BMTRACE_DEBUG", "1")
    monkeypatch.setattr(show, "run", _raise(ValueError("boom")))
    assert cli.main(["show", "runs/x"]) == 70
    err = capsys.readouterr().err
    assert err.startswith("Traceback") and err.rstrip().endswith("(traceback: BMTRACE_DEBUG=1)")


def test_os_error_names_the_path_and_exits_2(monkeypatch, capsys):
    """A refused file operation is an error of the environment: the path and reason, exit 2."""
    monkeypatch.setattr(show, "run", _raise(PermissionError(13, "Permission denied", "/data/run/run.json")))
    assert cli.main(["show", "/data/run"]) == 2
    assert capsys.readouterr().err == "bmtrace show: error: /data/run/run.json: Permission denied\n"


def test_keyboard_interrupt_exits_130(monkeypatch, capsys):
    """Ctrl-C ends with `interrupted` and exit 130."""
    monkeypatch.setattr(show, "run", _raise(KeyboardInterrupt()))
    assert cli.main(["show", "runs/x"]) == 130
    assert capsys.readouterr().err == "bmtrace show: interrupted\n"


@pytest.mark.parametrize("argv", [["diff", "only-one-run"], ["show", "x", "--bogus"], ["nosuchcommand"], []])
def test_usage_errors_exit_4(argv, capsys):
    """Unparseable command lines (missing argument, unknown option or command, none) exit 4."""
    assert cli.main(argv) == cli.EXIT_USAGE == 4
    assert "usage:" in capsys.readouterr().err


def test_help_and_version_exit_0(capsys):
    """--help and --version are not errors, and the help lists every exit code."""
    assert cli.main(["--version"]) == 0
    assert cli.main(["--help"]) == 0
    out = capsys.readouterr().out
    for code in ("0 ", "1 ", "2 ", "3 ", "4 ", "70 ", "130 ", "141 "):
        assert "\n  %s" % code in out


def test_broken_pipe_in_process_is_quiet(monkeypatch, capsys):
    """A BrokenPipeError while writing stdout ends with 141 and nothing on stderr."""
    monkeypatch.setattr(show, "run", _raise(BrokenPipeError(32, "Broken pipe")))
    assert cli.main(["show", "x"]) == cli.EXIT_BROKEN_PIPE == 141
    assert capsys.readouterr().err == ""


def test_help_into_a_closed_pipe_is_quiet():
    """`bmtrace --help` into a pipe whose reader is gone ends quietly (argparse itself drops a failed help write)."""
    proc = subprocess.Popen([sys.executable, "-m", "bmtrace", "--help"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    proc.stdout.close()
    stderr = proc.stderr.read().decode()
    assert proc.wait(timeout=60) in (0, 141) and stderr == ""


def test_lone_surrogates_print_as_escapes(monkeypatch):
    """A name holding a lone surrogate (non-UTF-8 file name) prints escaped instead of crashing."""
    raw = io.BytesIO()
    stream = io.TextIOWrapper(raw, encoding="utf-8")
    monkeypatch.setattr(sys, "stdout", stream)

    def run(args):
        print("sample img\udcff.jpg")
        return 0

    monkeypatch.setattr(show, "run", run)
    assert cli.main(["show", "x"]) == 0
    stream.flush()
    assert raw.getvalue() == b"sample img\\udcff.jpg\n"


def test_console_script_passes_the_exit_code(tmp_path):
    """`python -m bmtrace` exits with main's code (2 for a missing run), message on stderr only."""
    out = subprocess.run([sys.executable, "-m", "bmtrace", "show", str(tmp_path / "nope")], capture_output=True,
                         text=True)
    assert out.returncode == 2 and out.stdout == ""
    assert out.stderr.startswith("bmtrace show: error: ") and str(tmp_path / "nope") in out.stderr


@pytest.mark.parametrize("command", ["show", "replay", "bmodel-info", "import-bmrt", "import-npy", "pack", "unpack",
                                     "completion", "diff", "report", "record", "substitute", "attribute"])
def test_command_help_shows_an_example(command, capsys):
    """`bmtrace CMD --help` ends with an example that starts with `bmtrace CMD`."""
    assert cli.main([command, "--help"]) == 0
    out = capsys.readouterr().out
    assert "example" in out and "bmtrace %s " % command in out.split("example", 1)[1]
