"""Recording cost, as ratios against baselines measured in the same process.

1. No active run: extra cost of a decorated call over the bare call (target: < 1 us).
2. Full mode: recording a realistic stage workload vs saving the same arrays by hand with np.save
   (target: <= 1.5x).
3. Stats mode on the same workload vs full mode (target: < 10%).

Run: python benchmarks/bench_record.py [--repeats N]
"""
import argparse
import os
import shutil
import statistics
import tempfile
import time
import timeit

import numpy as np

import bmtrace


def workload():
    rng = np.random.default_rng(0)
    return {
        "frame": rng.integers(0, 256, (1080, 1920, 3), dtype=np.uint8),  # decoded 1080p image
        "resized": rng.integers(0, 256, (224, 224, 3), dtype=np.uint8),
        "tensor": rng.standard_normal((1, 3, 224, 224), dtype=np.float32),
        "logits": rng.standard_normal((1, 1000), dtype=np.float32),
    }


def bare(x):
    return x


traced = bmtrace.trace_stage("noop")(bare)


def disabled_overhead_us(number=200000):
    """Median extra microseconds per call of a decorated function with no run active."""
    bare_t, traced_t = [], []
    for _ in range(7):
        bare_t.append(timeit.timeit(lambda: bare(1), number=number) / number)
        traced_t.append(timeit.timeit(lambda: traced(1), number=number) / number)
    return (statistics.median(traced_t) - statistics.median(bare_t)) * 1e6, statistics.median(bare_t) * 1e6


def time_np_save(arrays, root, i):
    folder = os.path.join(root, "manual-%d" % i)
    os.makedirs(folder)
    t0 = time.perf_counter()
    for name, arr in arrays.items():
        np.save(os.path.join(folder, name + ".npy"), arr)
    return time.perf_counter() - t0


class Recording:
    """One run per mode, as a real program records: each block opens the run and warms the writer
    up (directories, threads) with one untimed record, then times ``per_block`` records."""

    def __init__(self, root, mode):
        self.path = os.path.join(root, mode)
        self.mode = mode
        self.count = 0

    def time_block(self, arrays, per_block):
        bmtrace.start(self.path, mode=self.mode, append=self.count > 0)
        try:
            self._record(arrays)
            times = []
            for _ in range(per_block):
                t0 = time.perf_counter()
                self._record(arrays)
                times.append(time.perf_counter() - t0)
            return times
        finally:
            bmtrace.stop()

    def _record(self, arrays):
        self.count += 1
        with bmtrace.sample("frame-%d" % self.count):
            with bmtrace.trace_stage("pipeline") as st:
                st.input(frame=arrays["frame"], resized=arrays["resized"])
                st.output(tensor=arrays["tensor"], logits=arrays["logits"])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=25, help="timed samples per variant")
    args = parser.parse_args()

    overhead, bare_us = disabled_overhead_us()
    print("disabled path: +%.3f us per call over a bare call of %.3f us (target < 1 us)" % (overhead, bare_us))

    arrays = workload()
    root = tempfile.mkdtemp(prefix="bmtrace-bench-")
    try:
        manual, full, stats = [], [], []
        full_run, stats_run = Recording(root, "full"), Recording(root, "stats")
        per_block = 5
        for block in range(max(1, args.repeats // per_block)):  # blocks interleave the three
            manual.extend(time_np_save(arrays, root, block * per_block + i) for i in range(per_block))
            full.extend(full_run.time_block(arrays, per_block))
            stats.extend(stats_run.time_block(arrays, per_block))
    finally:
        shutil.rmtree(root, ignore_errors=True)
    m, f, s = (statistics.median(x) * 1e3 for x in (manual, full, stats))
    print("full mode:  %.2f ms vs np.save by hand %.2f ms -> %.2fx (target <= 1.5x)" % (f, m, f / m))
    print("stats mode: %.2f ms vs full mode %.2f ms -> %.0f%% (target < 10%%)" % (s, f, 100 * s / f))


if __name__ == "__main__":
    main()
