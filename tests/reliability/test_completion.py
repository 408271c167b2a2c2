"""`bmtrace completion bash|zsh`: scripts built from the parser, loadable by the shells."""
import os
import shutil
import subprocess
import sys

import pytest

WORKTREE = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _script(shell, tmp_path):
    out = subprocess.run([sys.executable, "-m", "bmtrace", "completion", shell], capture_output=True, text=True,
                         env=dict(os.environ, PYTHONPATH=WORKTREE), timeout=60)
    assert out.returncode == 0, out.stderr
    path = tmp_path / ("bmtrace." + shell)
    path.write_text(out.stdout)
    return path


def _complete(script, *words):
    """What bash's completion function offers for the command line ``words`` (the last one being typed)."""
    words = ["bmtrace"] + list(words)
    line = "source %s && COMP_WORDS=(%s) && COMP_CWORD=%d && _bmtrace && printf '%%s\\n' \"${COMPREPLY[@]}\"" % (
        script, " ".join("'%s'" % w for w in words), len(words) - 1)
    out = subprocess.run(["bash", "-c", line], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and out.stderr == "", out.stderr
    return [w for w in out.stdout.splitlines() if w]


@pytest.mark.skipif(shutil.which("bash") is None, reason="bash is not installed")
def test_bash_sources_the_script_without_error(tmp_path):
    """bash -n accepts the script and sourcing it registers the completion."""
    script = _script("bash", tmp_path)
    assert subprocess.run(["bash", "-n", str(script)]).returncode == 0
    out = subprocess.run(["bash", "-c", "source %s && complete -p bmtrace" % script], capture_output=True, text=True)
    assert out.returncode == 0 and out.stderr == "" and "_bmtrace" in out.stdout


@pytest.mark.skipif(shutil.which("bash") is None, reason="bash is not installed")
def test_bash_completes_commands_options_and_choices(tmp_path):
    """Commands by prefix, a command's own options, and an option's choices."""
    script = _script("bash", tmp_path)
    assert _complete(script, "re") == ["record", "replay", "report"]
    assert "--trust-recorded" in _complete(script, "diff", "--t")
    assert "--trust-recorded" not in _complete(script, "show", "--")
    assert _complete(script, "diff", "--color", "") == ["auto", "always", "never"]


@pytest.mark.skipif(shutil.which("zsh") is None, reason="zsh is not installed")
def test_zsh_parses_the_script(tmp_path):
    """zsh -n accepts the generated script."""
    script = _script("zsh", tmp_path)
    assert subprocess.run(["zsh", "-n", str(script)]).returncode == 0


def test_zsh_script_lists_every_command(tmp_path):
    """The zsh script names every bmtrace command with its help, built from the parser."""
    from bmtrace.cli import build_parser
    from bmtrace.commands.completion import describe

    text = _script("zsh", tmp_path).read_text()
    assert text.startswith("#compdef bmtrace")
    for name in describe(build_parser()):
        assert "'%s:" % name in text and "        %s) _arguments" % name in text
