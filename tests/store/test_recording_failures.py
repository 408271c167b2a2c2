"""Recording failures never stop the user's program outside strict mode, and are reported once."""
import os
import shutil

import numpy as np
import pytest

import bmtrace
from bmtrace.errors import StoreError

from .conftest import double


def _unwritable_paths(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    return [blocker / "run", "/proc/bmtrace-nope/run"]


@pytest.mark.parametrize("which", [0, 1])
def test_start_on_unwritable_path_keeps_the_program_running(tmp_path, capfd, which):
    """start() where no directory can be made reports once, records nothing and returns."""
    path = _unwritable_paths(tmp_path)[which]
    assert bmtrace.start(path) == os.path.abspath(str(path))
    assert [double(np.ones(2))[0] for _ in range(3)] == [2.0, 2.0, 2.0]
    assert bmtrace.stop() is None
    err = capfd.readouterr().err
    assert err.count("bmtrace: not recording") == 1 and str(path) in err


def test_run_block_on_unwritable_path_runs_the_block(tmp_path, capfd):
    """`with bmtrace.run(bad)` still runs its block."""
    ran = []
    with bmtrace.run(_unwritable_paths(tmp_path)[0]):
        ran.append(double(np.ones(1))[0])
    assert ran == [2.0] and "not recording" in capfd.readouterr().err


def test_start_on_unwritable_path_raises_in_strict_mode(tmp_path):
    """strict=True turns the failure into a StoreError naming the path."""
    path = _unwritable_paths(tmp_path)[0]
    with pytest.raises(StoreError, match="cannot create run"):
        bmtrace.start(path, strict=True)
    assert bmtrace.stop() is None


def test_start_on_a_full_disk_keeps_the_program_running(tiny_disk, capfd):
    """start() on a full disk reports once and the program continues."""
    with open(tiny_disk / "filler", "wb") as f:
        try:
            f.write(b"\0" * (2 << 20))
        except OSError:
            pass
    bmtrace.start(tiny_disk / "run")
    assert double(np.ones(2))[0] == 2.0
    bmtrace.stop()
    assert capfd.readouterr().err.count("bmtrace: not recording") == 1


def test_full_disk_mid_run_keeps_earlier_records(tiny_disk, capfd):
    """When the disk fills up mid-run, it is reported once and every record made before stays readable."""
    with bmtrace.run(tiny_disk / "run"):
        results = [double(np.full(20000, i, np.float32))[0] for i in range(40)]  # 160 KB a call
    assert results == [2.0 * i for i in range(40)]
    assert capfd.readouterr().err.count("cannot write to run") == 1
    run = bmtrace.open_run(tiny_disk / "run")
    calls = run.calls()
    assert 0 < len(calls) < 40 and not run.problems
    for i, call in enumerate(calls):
        assert call.output().load(verify=True)[0] == 2.0 * i


def test_deleted_journal_directory_is_reported_once(tmp_path, capfd):
    """Deleting the journal directory mid-run is noticed at the next record and reported once."""
    with bmtrace.run(tmp_path / "run"):
        double(np.ones(2))
        shutil.rmtree(tmp_path / "run" / "journal")
        results = [double(np.ones(2))[0] for _ in range(3)]
    assert results == [2.0, 2.0, 2.0]
    err = capfd.readouterr().err
    assert err.count("cannot write to run") == 1 and "deleted" in err


def test_replaced_journal_file_is_reported(tmp_path, capfd):
    """A journal file replaced by another file mid-run is noticed rather than written to unseen."""
    with bmtrace.run(tmp_path / "run"):
        double(np.ones(2))
        (journal,) = (tmp_path / "run" / "journal").glob("*.jsonl")
        journal.unlink()
        journal.write_bytes(b"")
        double(np.ones(2))
    assert "deleted or replaced" in capfd.readouterr().err
