"""Fixtures for the daily-use tests: real runs recorded through the public API, and a CLI runner."""
import os
import subprocess
import sys

import pytest

from diff.diff_helpers import make_pipeline, record

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture(scope="session")
def runs(tmp_path_factory):
    """Factory: runs(name, samples, **make_pipeline options) -> run path.

    Runs are read-only data, so one recording per distinct (name, samples, mode, options) serves the session.
    """
    cache = {}
    base = tmp_path_factory.mktemp("daily_runs")

    def factory(name, samples=("a.jpg", "b.jpg", "c.jpg"), mode="full", **options):
        key = (name, tuple(samples), mode, tuple(sorted((k, repr(v)) for k, v in options.items())))
        if key not in cache:
            path = base / str(len(cache)) / name
            cache[key] = record(path, samples, make_pipeline(**options), side=name, mode=mode)
        return cache[key]

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
