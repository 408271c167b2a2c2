"""The journal's index parsed while the run records (index_ahead): the same index, whatever happens to
the child that parses it."""
import json
import os
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pyarrow.parquet as pq
import pytest

import bmtrace
from bmtrace import _state
from bmtrace.store import index_ahead, layout
from bmtrace.store.index import build_index


@bmtrace.trace_stage("scale")
def scale(x):
    return x * np.float32(0.5)


@pytest.fixture
def small_parts(monkeypatch):
    """A follower after 20 KB of journal, parts of 8 KB: a short test run gets several parts."""
    monkeypatch.setattr(index_ahead, "START_BYTES", 20 << 10)
    monkeypatch.setattr(index_ahead, "PART_BYTES", 8 << 10)
    monkeypatch.delenv("BMTRACE_INDEX_AHEAD", raising=False)
    used = []
    prefix = index_ahead.Follower.prefix

    def spied(self, journal):
        result = prefix(self, journal)
        used.append(result)
        return result

    monkeypatch.setattr(index_ahead.Follower, "prefix", spied)
    return used


def _record(path, samples, before_stop=None, bad_line_at=None):
    """Record ``samples`` calls in stats mode; ``before_stop(follower)`` runs with the run still open."""
    bmtrace.start(path, side="a", mode="stats")
    try:
        for i in range(samples):
            with bmtrace.sample("s%04d" % i):
                scale(np.full((8, 8), i, dtype=np.float32))
            if i == bad_line_at:
                (journal,) = (path / layout.JOURNAL_DIR).glob("*.jsonl")
                with open(journal, "ab") as f:
                    f.write(b'{"not": "a record"}\n')
        if before_stop is not None:
            before_stop(_state.recorder.writer().follower)
    finally:
        bmtrace.stop()


def _wait_for_parts(follower, count):
    manifest = os.path.join(follower.folder, index_ahead.MANIFEST)
    deadline = time.time() + 60
    while time.time() < deadline:
        if os.path.exists(manifest) and open(manifest).read().count("\n") >= count:
            return
        time.sleep(0.1)
    raise AssertionError("the follower wrote fewer than %d parts in 60 s" % count)


def _rebuilt(path, tmp_path):
    """The index of a copy of run ``path`` built from its journals alone."""
    copy = tmp_path / "copy"
    shutil.copytree(path, copy)
    os.unlink(copy / layout.INDEX_FILE)
    build_index(copy)
    return pq.read_table(copy / layout.INDEX_FILE)


def _same_index(path, tmp_path):
    built, rebuilt = pq.read_table(path / layout.INDEX_FILE), _rebuilt(path, tmp_path)
    assert built.equals(rebuilt)
    summary = b"bmtrace_summary"
    assert json.loads(built.schema.metadata[summary]) == json.loads(rebuilt.schema.metadata[summary])


def test_parts_parsed_while_recording_give_the_same_index(tmp_path, small_parts):
    path = tmp_path / "run"
    _record(path, 400, before_stop=lambda follower: _wait_for_parts(follower, 3))
    chunks, (offset, line), problems = small_parts[0]
    assert len(chunks) >= 3 and offset > 0 and line > 1 and problems == []
    _same_index(path, tmp_path)
    assert not (path / layout.INDEX_AHEAD_DIR).exists()  # a cache: gone once the index is written


def test_a_bad_line_inside_the_parts_is_reported_as_without_them(tmp_path, small_parts):
    path = tmp_path / "run"
    _record(path, 400, before_stop=lambda follower: _wait_for_parts(follower, 3), bad_line_at=5)
    chunks, _, problems = small_parts[0]
    assert len(problems) == 1 and problems[0][0] == 7  # 6 records, then the bad line
    _same_index(path, tmp_path)


def test_a_killed_follower_costs_nothing_but_time(tmp_path, small_parts):
    path = tmp_path / "run"

    def kill(follower):
        _wait_for_parts(follower, 1)
        os.kill(follower.process.pid, signal.SIGKILL)
        follower.process.wait()

    _record(path, 400, before_stop=kill)
    assert small_parts[0] is not None  # the parts it finished are still taken
    _same_index(path, tmp_path)


@pytest.mark.parametrize("damage", ["gap", "junk part", "missing part", "other journal"])
def test_parts_that_cannot_be_vouched_for_are_not_used(tmp_path, small_parts, damage):
    path = tmp_path / "run"

    def spoil(follower):
        _wait_for_parts(follower, 2)
        follower.finish()
        manifest = os.path.join(follower.folder, index_ahead.MANIFEST)
        entries = [json.loads(line) for line in open(manifest)]
        if damage == "gap":
            entries[1]["start"] += 1
        elif damage == "junk part":
            with open(os.path.join(follower.folder, entries[1]["tensors"]), "wb") as f:
                f.write(b"ARROW1 but not really")
        elif damage == "missing part":
            os.unlink(os.path.join(follower.folder, entries[0]["calls"]))
        else:
            follower.journal_id = (follower.journal_id[0], follower.journal_id[1] + 1)
        with open(manifest, "w") as f:
            f.writelines(json.dumps(entry) + "\n" for entry in entries)

    _record(path, 300, before_stop=spoil)
    assert small_parts == [None]
    _same_index(path, tmp_path)


def test_no_follower_for_a_short_journal_without_pyarrow_or_when_turned_off(tmp_path, small_parts, monkeypatch):
    _record(tmp_path / "short", 10)
    find_spec = index_ahead.importlib.util.find_spec
    with monkeypatch.context() as device:  # a device image: its index is built later, where pyarrow is
        device.setattr(index_ahead.importlib.util, "find_spec",
                       lambda name, *args: None if name == "pyarrow" else find_spec(name, *args))
        _record(tmp_path / "device", 300)
    monkeypatch.setenv("BMTRACE_INDEX_AHEAD", "0")
    _record(tmp_path / "off", 300)
    assert small_parts == []  # no follower was asked for parts
    assert not (tmp_path / "off" / layout.INDEX_AHEAD_DIR).exists()


ORPHAN = r"""
import os, signal, sys, time
import numpy as np
import bmtrace
from bmtrace import _state
from bmtrace.store import index_ahead

index_ahead.START_BYTES, index_ahead.PART_BYTES = 20 << 10, 8 << 10
bmtrace.start(sys.argv[1], mode="stats")
for i in range(300):
    with bmtrace.sample("s%d" % i), bmtrace.trace_stage("scale") as stage:
        stage.output(np.full((8, 8), i, dtype=np.float32))
follower = _state.recorder.writer().follower
manifest = os.path.join(follower.folder, index_ahead.MANIFEST)
while not (os.path.exists(manifest) and open(manifest).read()):
    time.sleep(0.05)
fork = os.fork()
if fork == 0:  # a worker that outlives the recording process and holds the follower's pipe open
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)  # not the test's pipe: the test reads until this process's output ends
    os.dup2(devnull, 2)
    time.sleep(120)
    os._exit(0)
print(follower.process.pid, fork, flush=True)
os.kill(os.getpid(), signal.SIGKILL)
"""


def _alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"  # a zombie has exited
    except FileNotFoundError:
        return False


@pytest.mark.skipif(not os.path.exists("/proc/self/stat"), reason="reads process states from /proc")
def test_the_follower_of_a_killed_recording_exits_though_a_fork_holds_its_pipe(tmp_path):
    out = subprocess.run([sys.executable, "-c", ORPHAN, str(tmp_path / "run")], capture_output=True, text=True,
                         timeout=120)
    follower, fork = (int(pid) for pid in out.stdout.split())
    try:
        assert _alive(fork)  # the fork still holds the pipe: no EOF for the follower
        deadline = time.time() + 30
        while _alive(follower) and time.time() < deadline:
            time.sleep(0.1)
        assert not _alive(follower)  # it saw its parent change and exited
    finally:
        os.kill(fork, signal.SIGKILL)


def test_leftover_parts_of_a_killed_recording_are_removed_by_the_next_build(tmp_path, small_run):
    leftover = small_run / layout.INDEX_AHEAD_DIR / "123-abcdef"
    leftover.mkdir(parents=True)
    (leftover / index_ahead.MANIFEST).write_text("")
    build_index(small_run, force=True)
    assert not (small_run / layout.INDEX_AHEAD_DIR).exists()
