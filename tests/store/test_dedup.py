"""Content-addressed payloads: a payload already written by this process is referenced, not copied."""
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time

import numpy as np
import pytest

import bmtrace
from payload_files import stored_payloads

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@bmtrace.trace_stage("scale")
def scale(img):
    return img * 2


@bmtrace.trace_stage("shift")
def shift(img):
    return img + 1


@pytest.mark.parametrize("size", [100, 600 * 1024])  # below and above the parallel-write threshold
def test_input_equal_to_previous_output_is_stored_once(tmp_path, size):
    """In a two-stage pipeline, the second stage's input references the first stage's output file."""
    with bmtrace.run(tmp_path / "run"):
        for i in range(3):
            with bmtrace.sample("s%d" % i):
                shift(scale(np.full(size, 10 * i + 3, np.float32)))  # all values distinct
    run = bmtrace.open_run(tmp_path / "run")
    assert len(stored_payloads(tmp_path / "run")) == 3 * 3  # scale in, scale out (= shift in), shift out
    for i, sample in enumerate(run.samples()):
        first, second = run.calls(sample=sample)
        assert second.input("img").payload == first.output().payload
        assert second.input("img").load(verify=True)[0] == 20 * i + 6 and second.output().load()[0] == 20 * i + 7
    assert run.index().num_rows == 3 * 4  # the index still sees every tensor


def test_repeated_constant_input_is_stored_once(tmp_path):
    """The same array recorded by many calls is written once; every record loads it."""
    weights = np.arange(1000, dtype=np.float64)
    with bmtrace.run(tmp_path / "run"):
        for _ in range(20):
            scale(weights)
    run = bmtrace.open_run(tmp_path / "run")
    assert len({c.input("img").payload for c in run.calls()}) == 1
    assert all(np.array_equal(c.input("img").load(), weights) for c in run.calls())


def test_duplicates_do_not_count_against_the_payload_cap(tmp_path):
    """A referenced payload costs no bytes of the payload cap."""
    arr = np.zeros(1000, np.float32)  # 4000 bytes
    with bmtrace.run(tmp_path / "run", payload_cap_bytes=9000):
        for _ in range(10):
            shift(arr)  # input always the same; output always the same
    calls = bmtrace.open_run(tmp_path / "run").calls()
    assert all(c.input("img").has_payload and c.output().has_payload for c in calls)


def test_threads_share_payloads_safely(tmp_path):
    """Eight threads recording overlapping contents: every record loads its own, verified value."""
    def job(t):
        for i in range(30):
            with bmtrace.sample("t%d-%d" % (t, i)):
                shift(scale(np.full(5000 if i % 2 else 300000, i % 5, np.float32)))

    with bmtrace.run(tmp_path / "run"):
        threads = [threading.Thread(target=job, args=(t,)) for t in range(8)]
        [th.start() for th in threads]
        [th.join() for th in threads]
    run = bmtrace.open_run(tmp_path / "run")
    assert len(run.calls()) == 480 and not run.problems
    for call in run.calls():
        i = int(call.sample.split("-")[1])
        expected = 2 * (i % 5) + (1 if call.stage == "shift" else 0)
        assert call.output().load(verify=True)[0] == expected
        assert call.input("img").load(verify=True).size == (5000 if i % 2 else 300000)
    assert len(stored_payloads(tmp_path / "run")) < 480 * 2  # shared, not one file per tensor


def test_sigkill_with_shared_payloads_leaves_every_record_readable(tmp_path):
    """Killed at a random moment, a deduplicating run keeps every completed record and its payloads,
    whether in a pack of small payloads or in files of their own."""
    progress = tmp_path / "progress"
    script = tmp_path / "loop.py"
    script.write_text(textwrap.dedent("""
        import os, sys, numpy as np, bmtrace
        @bmtrace.trace_stage("a")
        def a(x):
            return x * 2
        @bmtrace.trace_stage("b")
        def b(x):
            return x + 1
        bmtrace.start(sys.argv[1])
        i = 0
        while True:
            with bmtrace.sample("f%d" % i):
                b(a(np.full((64, 64 * (1 if i % 2 else 1 + i % 200), 3), i % 7, np.uint8)))  # packed, then files
            i += 1
            with open(sys.argv[2] + ".tmp", "w") as f:
                f.write(str(i))
            os.replace(sys.argv[2] + ".tmp", sys.argv[2])
    """))
    rng = np.random.default_rng()
    for trial in range(3):
        run_path = tmp_path / ("run%d" % trial)
        proc = subprocess.Popen([sys.executable, str(script), str(run_path), str(progress)],
                                env=dict(os.environ, PYTHONPATH=REPO))
        deadline = time.time() + 60
        while time.time() < deadline and not (progress.exists() and progress.read_text()
                                              and int(progress.read_text()) >= 10):
            time.sleep(0.02)
        time.sleep(rng.uniform(0, 0.3))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        done = int(progress.read_text())
        progress.unlink()
        run = bmtrace.open_run(run_path)
        calls = run.calls()
        assert len(calls) >= 2 * done and not run.problems
        for call in calls:
            i = int(call.sample[1:])
            value = (i % 7) * 2 + (1 if call.stage == "b" else 0)
            assert call.output().load(verify=True)[0, 0, 0] == value
            assert call.input("x").load(verify=True).shape == (64, 64 * (1 if i % 2 else 1 + i % 200), 3)
        assert sum(1 for c in calls if c.stage == "b" and
                   c.input("x").payload == run.calls(sample=c.sample, stage="a")[0].output().payload) >= done


def test_sha1_fallback_also_shares_payloads(tmp_path, monkeypatch):
    """Without xxhash (SHA-1), large and small duplicates are still written once."""
    from bmtrace.store import hashing

    monkeypatch.setattr(hashing, "_xxhash", None)
    monkeypatch.setattr(hashing, "_resolved", True)
    with bmtrace.run(tmp_path / "run"):
        for size in (100, 400 * 1024):
            shift(scale(np.full(size, 3, np.float32)))
    run = bmtrace.open_run(tmp_path / "run")
    assert run.hash_alg == "sha1" and len(stored_payloads(tmp_path / "run")) == 6
    for first, second in zip(run.calls(stage="scale"), run.calls(stage="shift")):
        assert second.input("img").payload == first.output().payload
        assert second.input("img").load(verify=True)[0] == 6
