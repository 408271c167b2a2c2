"""The README's own example runs as written and prints the table the README shows."""
import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _section(text, title):
    start = text.index(title)
    end = text.index("\n## ", start + 1)
    return text[start:end]


def test_thirty_second_example_prints_what_the_readme_shows(tmp_path):
    """The decorated example's commands (after the install line) exit 1 and print the README's table."""
    with open(os.path.join(ROOT, "README.md"), encoding="utf-8") as f:
        section = _section(f.read(), "## In 30 seconds, decorated")
    script, shown = re.findall(r"```(?:bash)?\n(.*?)```", section, re.S)[:2]
    lines = [line for line in script.splitlines() if not line.startswith("pip install")]
    python = "%s" % sys.executable
    body = "\n".join(re.sub(r"^python ", python + " ", re.sub(r"^bmtrace ", python + " -m bmtrace ", line))
                     for line in lines)
    env = dict(os.environ, PYTHONPATH=ROOT, NO_COLOR="1")
    proc = subprocess.run(["bash", "-c", body], cwd=str(tmp_path), capture_output=True, text=True, env=env)
    assert proc.returncode == 1, proc.stderr
    table = [line.rstrip() for line in shown.splitlines()[:4]]
    printed = [line.rstrip() for line in proc.stdout.splitlines()]
    for line in table:
        assert line in printed, "README line not printed:\n%s\n---\n%s" % (line, proc.stdout)
    for line in shown.splitlines()[4:]:
        if line.strip():
            prefix = line.split("...")[0].rstrip()  # the README cuts long lines with "..."
            assert any(p.startswith(prefix) for p in printed), line
