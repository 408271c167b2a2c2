"""Helpers for users' own tests: record a block into a run, assert that two runs agree.

Example:
    from bmtrace.testing import capture, assert_runs_close

    def test_port_matches_original(tmp_path):
        with capture(tmp_path / "port", side="port") as port:
            run_port_pipeline("test.jpg")
        assert port.run.stages() == ["read", "resize", "normalize", "infer"]
        assert_runs_close("runs/original", port.path, tol={"resize": 1})
"""
from __future__ import annotations

import contextlib
import tempfile

from .api import run as _run
from .store.reader import open_run

__all__ = ["Capture", "assert_runs_close", "capture"]


class Capture:
    """What a ``capture()`` block recorded: its ``path`` and, once the block is over, its ``run``."""

    def __init__(self, path):
        self.path = path
        self._run = None

    @property
    def run(self):
        if self._run is None:
            self._run = open_run(self.path)
        return self._run


@contextlib.contextmanager
def capture(path=None, **options):
    """Record the block into ``path`` (replaced if it holds a run; default: a new temporary
    directory, left in place so the run can be diffed afterwards). Options are bmtrace.start's."""
    path = str(path) if path is not None else tempfile.mkdtemp(prefix="bmtrace-capture-")
    options.setdefault("overwrite", True)
    handle = Capture(path)
    with _run(path, **options):
        yield handle


def assert_runs_close(run_a, run_b, **diff_options):
    """Raise AssertionError with the diff table unless every stage of the two runs is aligned.

    ``run_a``/``run_b`` are run paths, opened runs or ``Capture`` handles from ``capture()``."""
    from .diff import diff
    from .report.text import render_table

    run_a, run_b = (r.run if isinstance(r, Capture) else r for r in (run_a, run_b))
    result = diff(run_a, run_b, **diff_options)
    if not result:
        raise AssertionError("runs differ: %s\n%s" % (result, render_table(result)))
    return result
