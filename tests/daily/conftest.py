"""Fixtures for the daily-use tests: real runs recorded through the public API, and a CLI runner."""
import os
import subprocess
import sys

import pytest

from diff.diff_helpers import make_pipeline, record

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture
def runs(tmp_path):
    """Factory: runs(name, samples, **make_pipeline options) -> run path."""

    def factory(name, samples=("a.jpg", "b.jpg", "c.jpg"), mode="full", **options):
        return record(tmp_path / name, samples, make_pipeline(**options), side=name, mode=mode)

    return factory


@pytest.fixture
def cli():
    """Run ``python -m bmtrace ARGS`` with this worktree first on PYTHONPATH; returns the CompletedProcess."""

    def run(*args, cwd=None):
        env = dict(os.environ, PYTHONPATH=REPO + os.pathsep + os.environ.get("PYTHONPATH", ""))
        env.pop("FORCE_COLOR", None)
        return subprocess.run([sys.executable, "-m", "bmtrace"] + [str(a) for a in args],
                              capture_output=True, text=True, env=env, cwd=cwd, timeout=120)

    return run
