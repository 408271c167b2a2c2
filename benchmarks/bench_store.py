"""Store costs, as ratios measured in one process: content hash, deduplicated payloads, verified loads,
journal parsing.

1. Content hash throughput: xxh3-128 (when xxhash is installed) against the SHA-1 fallback, 64 MiB.
2. A decorated four-stage pipeline (1080p decode -> resize -> normalize -> infer), whole runs with
   start/stop: bmtrace full mode against np.save of each stage's output once, time and bytes on disk.
   A stage's input is the previous stage's output, so deduplicated payloads write each array once.
3. Payload loading with hash verification against without, for both hash algorithms.
4. Reading: microseconds per journal line (JSON decode + validation + objects) and stop() time of a
   stats-mode run of N samples x 3 stages (which builds the Parquet index when pyarrow is installed).

Run: python benchmarks/bench_store.py [--samples N] [--small N]
"""
import argparse
import os
import shutil
import tempfile
import time

import numpy as np

import bmtrace
from bmtrace.store import hashing


def _best(fn, repeats):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def _du(path):
    return sum(os.path.getsize(os.path.join(d, f)) for d, _, files in os.walk(path) for f in files)


def bench_hash():
    arr = np.random.default_rng(0).integers(0, 255, 64 << 20, dtype=np.uint8)
    print("1. content hash of 64 MiB")
    speeds = {}
    for alg in (hashing.SHA1, hashing.XXH3):
        if not hashing.available(alg):
            print("   %-9s not available (pip install 'bmtrace[fast]')" % alg)
            continue
        speeds[alg] = arr.nbytes / _best(lambda: hashing.content_hash(arr, alg), 3) / 1e9
        print("   %-9s %6.1f GB/s" % (alg, speeds[alg]))
    if len(speeds) == 2:
        print("   ratio xxh3/sha1: %.1fx" % (speeds[hashing.XXH3] / speeds[hashing.SHA1]))


@bmtrace.trace_stage("decode")
def decode(i):
    return np.full((1080, 1920, 3), i % 251, np.uint8)


@bmtrace.trace_stage("resize")
def resize(img):
    return img[::2, ::2].copy()


@bmtrace.trace_stage("normalize")
def normalize(img):
    return (img.astype(np.float32) - 127.5) / 58.0


@bmtrace.trace_stage("infer")
def infer(x):
    return x.mean(axis=(0, 1))


def bench_pipeline(root, samples):
    print("2. decorated pipeline, %d samples of 1080p, whole runs" % samples)
    run_path, save_path = os.path.join(root, "run"), os.path.join(root, "save")

    def traced():
        shutil.rmtree(run_path, ignore_errors=True)
        bmtrace.start(run_path)
        for i in range(samples):
            with bmtrace.sample(str(i)):
                infer(normalize(resize(decode(i))))
        bmtrace.stop()

    def by_hand():
        shutil.rmtree(save_path, ignore_errors=True)
        os.makedirs(save_path)
        for i in range(samples):
            outputs = [decode.__wrapped__(i)]
            for stage in (resize, normalize, infer):
                outputs.append(stage.__wrapped__(outputs[-1]))
            for k, out in enumerate(outputs):
                np.save(os.path.join(save_path, "%d-%d.npy" % (i, k)), out)

    t_hand, t_traced = [], []
    for _ in range(3):  # interleaved rounds: the machine's load changes over time
        t_hand.append(_best(by_hand, 1))
        t_traced.append(_best(traced, 1))
    hand, ours = min(t_hand), min(t_traced)
    print("   np.save each output once: %.2f s, %.0f MB" % (hand, _du(save_path) / 1e6))
    print("   bmtrace full mode:        %.2f s, %.0f MB  (time %.2fx, bytes %.2fx)"
          % (ours, _du(run_path) / 1e6, ours / hand, _du(run_path) / _du(save_path)))
    return run_path


def bench_verify(run_path):
    print("3. loading payloads with and without hash verification (%s)" % hashing.algorithm())
    tensors = [t for t in bmtrace.open_run(run_path).tensors() if t.payload]
    plain = _best(lambda: [t.load(verify=False) for t in tensors], 3)
    checked = _best(lambda: [t.load(verify=True) for t in tensors], 3)
    mb = sum(t.load(verify=False).nbytes for t in tensors) / 1e6
    print("   %d payloads, %.0f MB: %.2f s plain, %.2f s verified (%.2fx)" % (len(tensors), mb, plain, checked,
                                                                            checked / plain))


@bmtrace.trace_stage("a")
def _a(x):
    return x + 1


@bmtrace.trace_stage("b")
def _b(x):
    return x * 2


@bmtrace.trace_stage("c")
def _c(x):
    return x - 3


def bench_reading(root, small):
    print("4. a stats-mode run of %d samples x 3 stages (64 floats each)" % small)
    path = os.path.join(root, "small")
    bmtrace.start(path, mode="stats", overwrite=True)
    x = np.zeros(64, np.float32)
    start = time.perf_counter()
    for i in range(small):
        with bmtrace.sample("f%d" % i):
            _c(_b(_a(x + i)))
    record = time.perf_counter() - start
    start = time.perf_counter()
    bmtrace.stop()
    stop = time.perf_counter() - start
    start = time.perf_counter()
    calls = bmtrace.open_run(path).calls()
    read = time.perf_counter() - start
    print("   recording %.0f us per call, stop() %.2f s, open_run + calls() %.2f s (%.1f us per journal line)"
          % (record / (3 * small) * 1e6, stop, read, read / len(calls) * 1e6))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=20)
    parser.add_argument("--small", type=int, default=5000)
    args = parser.parse_args()
    root = tempfile.mkdtemp(prefix="bench_store-")
    try:
        bench_hash()
        run_path = bench_pipeline(root, args.samples)
        bench_verify(run_path)
        bench_reading(root, args.small)
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
