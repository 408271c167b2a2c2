"""Real programs recorded as subprocesses: the torch/PIL original and numpy/OpenCV ports of it.

Runs are recorded once per session: A (original.py), the port with OpenCV's resize (the resize fault)
and the port with PIL's resize whose `with`-block normalize swaps channels (the normalize fault).
"""
import os
import subprocess
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
PROGRAMS = os.path.join(HERE, "programs")
ROOT = os.path.dirname(os.path.dirname(HERE))
FAKES = os.path.join(ROOT, "tests", "fakes")
if FAKES not in sys.path:
    sys.path.insert(0, FAKES)


def child_env(**extra):
    env = {k: v for k, v in os.environ.items() if not k.startswith("BMTRACE_")}
    env["PYTHONPATH"] = os.pathsep.join([ROOT, env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env.update(extra)
    return env


def record(out, side, *argv):
    """Record ``python PROGRAM ARGS`` (run from the programs folder) into run ``out``."""
    subprocess.run([sys.executable, "-m", "bmtrace", "record", "--out", str(out), "--side", side, "--overwrite",
                    "--", sys.executable] + list(argv), cwd=PROGRAMS, env=child_env(), check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    return str(out)


def bmtrace_cli(*args, cwd=None):
    """Run the bmtrace CLI in a subprocess; returns the CompletedProcess (text)."""
    return subprocess.run([sys.executable, "-m", "bmtrace"] + [str(a) for a in args], cwd=cwd or PROGRAMS,
                          env=child_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          universal_newlines=True)


@pytest.fixture(scope="session")
def runs(tmp_path_factory):
    base = tmp_path_factory.mktemp("substitute_runs")
    return {
        "original": record(base / "original", "original", "original.py"),
        "cv2_resize": record(base / "cv2_resize", "port", "port.py"),
        "swap": record(base / "swap", "port", "port.py", "--resize", "pil", "--swap"),
    }
