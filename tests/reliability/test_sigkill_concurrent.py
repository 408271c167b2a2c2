"""SIGKILL at random moments of a run recorded by two threads, with shared (deduplicated) payloads."""
import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np

import bmtrace

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TRIALS = int(os.environ.get("BMTRACE_KILL_TRIALS", "4"))

PROGRAM = textwrap.dedent("""
    import os, sys, threading, numpy as np, bmtrace

    @bmtrace.trace_stage("scale")
    def scale(x):
        return x * 2

    @bmtrace.trace_stage("shift")
    def shift(x):
        return x + 1          # its input is scale's output: stored once, referenced twice

    def worker(name):
        i = 0
        while True:
            with bmtrace.sample("%s-%d" % (name, i)):
                shift(scale(np.full((32, 32 * (1 + i % 50)), i % 9, np.int16)))
            i += 1
            tmp = "%s.%s.tmp" % (sys.argv[2], name)
            with open(tmp, "w") as f:
                f.write(str(i))
            os.replace(tmp, "%s.%s" % (sys.argv[2], name))

    bmtrace.start(sys.argv[1])
    threads = [threading.Thread(target=worker, args=(n,), daemon=True) for n in ("t0", "t1")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
""")


def _done(progress, name):
    try:
        return int(open("%s.%s" % (progress, name)).read())
    except (OSError, ValueError):
        return 0


def test_kill_while_two_threads_record_loses_no_completed_record(tmp_path):
    """Every call both threads completed before the kill is readable, with the right values, hash-checked."""
    script = tmp_path / "loop.py"
    script.write_text(PROGRAM)
    rng = np.random.default_rng()
    for trial in range(TRIALS):
        run_path, progress = tmp_path / ("run%d" % trial), str(tmp_path / ("progress%d" % trial))
        proc = subprocess.Popen([sys.executable, str(script), str(run_path), progress],
                                env=dict(os.environ, PYTHONPATH=REPO))
        deadline = time.time() + 60
        while time.time() < deadline and min(_done(progress, "t0"), _done(progress, "t1")) < 5:
            time.sleep(0.02)
        time.sleep(rng.uniform(0, 0.2))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        done = {name: _done(progress, name) for name in ("t0", "t1")}
        run = bmtrace.open_run(str(run_path))
        assert not run.problems, run.problems
        by_sample = {}
        for call in run.calls():
            by_sample.setdefault(call.sample, {})[call.stage] = call
        for name, count in done.items():
            for i in range(count):  # completed before its progress was written: must be there
                calls = by_sample["%s-%d" % (name, i)]
                expected = np.full((32, 32 * (1 + i % 50)), i % 9, np.int16)
                np.testing.assert_array_equal(calls["scale"].output().load(verify=True), expected * 2)
                np.testing.assert_array_equal(calls["shift"].input("x").load(verify=True), expected * 2)
                np.testing.assert_array_equal(calls["shift"].output().load(verify=True), expected * 2 + 1)
