"""Shared helpers for the store tests: a small recorded run and journal surgery."""
import json
import os
import subprocess
import uuid

import numpy as np
import pytest

import bmtrace


@bmtrace.trace_stage("double")
def double(x):
    return x * 2


@pytest.fixture
def small_run(tmp_path):
    """A finished run with three calls of stage "double" (samples s0..s2), in full mode."""
    path = tmp_path / "run"
    with bmtrace.run(path, side="a"):
        for i in range(3):
            with bmtrace.sample("s%d" % i):
                double(np.arange(6, dtype=np.float32) + i)
    return path


def journal_of(run_path):
    (journal,) = (run_path / "journal").glob("*.jsonl")
    return journal


def journal_records(run_path):
    return [json.loads(line) for line in journal_of(run_path).read_bytes().splitlines()]


def write_journal(run_path, lines):
    """Replace the journal's content by ``lines`` (bytes, each without its newline)."""
    journal_of(run_path).write_bytes(b"".join(line + b"\n" for line in lines))


@pytest.fixture
def tiny_disk(tmp_path):
    """A directory on a 1 MiB tmpfs (root and mount(8) needed; skipped otherwise)."""
    mount_point = tmp_path / ("disk-" + uuid.uuid4().hex[:6])
    mount_point.mkdir()
    if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount_point)],
                                           capture_output=True).returncode:
        pytest.skip("mounting a small tmpfs needs root and mount(8)")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], capture_output=True)
