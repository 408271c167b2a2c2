"""Store costs, as ratios measured in one process: content hash, verified loads, journal parsing.

1. Content hash throughput: xxh3-128 (when xxhash is installed) against the SHA-1 fallback, 64 MiB.
2. Payload loading with hash verification against without (a full-mode run of 1080p frames).
3. Reading: microseconds per journal line (JSON decode + validation + objects) of a stats-mode run
   of N samples x 3 stages.

Recording cost is measured by bench_pipeline.py, long runs (stop, show, diff) by bench_scale.py.
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


def record_frames(root, samples):
    run_path = os.path.join(root, "run")
    with bmtrace.run(run_path):
        for i in range(samples):
            with bmtrace.sample(str(i)):
                infer(normalize(resize(decode(i))))
    return run_path


def bench_verify(run_path):
    print("2. loading payloads with and without hash verification (%s)" % hashing.algorithm())
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
    print("3. a stats-mode run of %d samples x 3 stages (64 floats each)" % small)
    path = os.path.join(root, "small")
    bmtrace.start(path, mode="stats", overwrite=True)
    x = np.zeros(64, np.float32)
    for i in range(small):
        with bmtrace.sample("f%d" % i):
            _c(_b(_a(x + i)))
    bmtrace.stop()
    start = time.perf_counter()
    calls = bmtrace.open_run(path).calls()
    read = time.perf_counter() - start
    print("   open_run + calls() %.2f s (%.1f us per journal line)" % (read, read / len(calls) * 1e6))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=20)
    parser.add_argument("--small", type=int, default=5000)
    args = parser.parse_args()
    root = tempfile.mkdtemp(prefix="bench_store-")
    try:
        bench_hash()
        run_path = record_frames(root, args.samples)
        bench_verify(run_path)
        bench_reading(root, args.small)
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
