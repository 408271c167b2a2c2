"""Recording cost of a decorated pipeline, as ratios against hand-written np.save, in one run.

1. Pipeline: four decorated stages (1080p JPEG decode with OpenCV -> resize 640x640 -> normalize to
   float32 CHW -> infer: pooled features @ weights -> 1000 logits), N samples, whole runs including
   start/stop. bmtrace full mode against the same program saving each stage's output once with
   np.save (target <= 1.25x), and bytes on disk of both (bmtrace also keeps every stage's inputs).
2. Stats mode: its recording cost (time above the untraced program) against full mode's (target
   <= 10%); the raw whole-run times are printed too, and the CPU time of recording alone (the stages
   return outputs computed beforehand), which a busy machine disturbs far less.
3. Small records: 5,000 traced calls with one 4 KB output each, microseconds per record in full
   mode (target <= 10 us) against np.save of the same array.
4. Disabled path: extra cost of a decorated call with no run active (target < 0.3 us).

Each figure is the median of interleaved rounds (the variants alternate, so a busy machine slows
them alike); CPU-time ratios are printed too, as wall time on an oversubscribed machine is mostly
other processes' noise. Run: python benchmarks/bench_pipeline.py [--quick] [--samples N] [--rounds N]
"""
import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
import timeit

import numpy as np

sys.path.append(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # PYTHONPATH wins

import bmtrace  # noqa: E402


def _jpegs(count):
    """``count`` different 1080p JPEG frames, as a video gives them (no two decode to the same pixels)."""
    import cv2

    out = []
    y, x = np.mgrid[0:1080, 0:1920]
    for i in range(count):
        img = np.stack([(x + 7 * i) % 256, (y + 3 * i) % 256, (x ^ y) % 256], -1).astype(np.uint8)
        ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 90])
        assert ok
        out.append(buf.tobytes())
    return out


WEIGHTS = np.random.default_rng(0).standard_normal((3 * 80 * 80, 1000)).astype(np.float32) * 0.01
MEAN = np.array([0.485, 0.456, 0.406], np.float32).reshape(3, 1, 1)
STD = np.array([0.229, 0.224, 0.225], np.float32).reshape(3, 1, 1)


def _decode(data):
    import cv2

    return cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)


def _resize(img):
    import cv2

    return cv2.resize(img, (640, 640), interpolation=cv2.INTER_LINEAR)


def _normalize(img):
    x = img[..., ::-1].transpose(2, 0, 1).astype(np.float32) * np.float32(1 / 255.0)
    return (x - MEAN) / STD


def _infer(x):
    pooled = x.reshape(3, 80, 8, 80, 8).mean(axis=(2, 4))
    return pooled.reshape(-1) @ WEIGHTS


# The decorated program, as a user writes it.
decode = bmtrace.trace_stage("decode")(_decode)
resize = bmtrace.trace_stage("resize")(_resize)
normalize = bmtrace.trace_stage("normalize")(_normalize)
infer = bmtrace.trace_stage("infer")(_infer)


def run_plain(jpegs, samples, folder):
    """The undecorated program: the floor every variant pays."""
    for i in range(samples):
        _infer(_normalize(_resize(_decode(jpegs[i % len(jpegs)]))))


def run_np_save(jpegs, samples, folder):
    """The hand-written alternative: each stage's output saved once with np.save."""
    os.makedirs(folder)
    for i in range(samples):
        img = _decode(jpegs[i % len(jpegs)])
        np.save(os.path.join(folder, "%d-decode.npy" % i), img)
        small = _resize(img)
        np.save(os.path.join(folder, "%d-resize.npy" % i), small)
        x = _normalize(small)
        np.save(os.path.join(folder, "%d-normalize.npy" % i), x)
        np.save(os.path.join(folder, "%d-infer.npy" % i), _infer(x))


def _run_traced(mode):
    def run(jpegs, samples, folder):
        bmtrace.start(folder, mode=mode, side=mode)
        try:
            for i in range(samples):
                with bmtrace.sample("img%05d" % i):
                    infer(normalize(resize(decode(jpegs[i % len(jpegs)]))))
        finally:
            bmtrace.stop()
    return run


def disk_bytes(folder):
    total = 0
    for base, _, files in os.walk(folder):
        for name in files:
            total += os.path.getsize(os.path.join(base, name))
    return total


def pipeline_figures(samples, rounds, root):
    jpegs = _jpegs(samples)
    variants = [("plain", run_plain), ("np.save", run_np_save), ("full", _run_traced("full")),
                ("stats", _run_traced("stats"))]
    times = {name: [] for name, _ in variants}
    cpu = {name: [] for name, _ in variants}
    sizes = {}
    for r in range(rounds):
        order = variants if r % 2 == 0 else variants[::-1]
        for name, fn in order:
            folder = os.path.join(root, "%s-%d" % (name.replace(".", ""), r))
            t0, c0 = time.perf_counter(), time.process_time()
            fn(jpegs, samples, folder)
            times[name].append(time.perf_counter() - t0)
            cpu[name].append(time.process_time() - c0)
            if os.path.isdir(folder):
                sizes[name] = disk_bytes(folder)
                shutil.rmtree(folder, ignore_errors=True)
    median = lambda table: {k: statistics.median(v) for k, v in table.items()}
    return median(times), median(cpu), sizes


def recording_only(samples, rounds, root):
    """CPU seconds per sample that recording alone costs, full and stats mode: the same four stages
    and values, but each stage returns its output computed beforehand, so the untraced program's
    time (most of a whole run, and most of its noise on a busy machine) is not in the figure."""
    jpegs = _jpegs(samples)
    chains, following = [], {}
    for data in jpegs:
        img = _decode(data)
        small = _resize(img)
        x = _normalize(small)
        chains.append(data)
        for value, result in ((data, img), (img, small), (small, x), (x, _infer(x))):
            following[id(value)] = result
    stages = [bmtrace.trace_stage(name)(lambda value: following[id(value)])
              for name in ("decode", "resize", "normalize", "infer")]
    cpu = {"full": [], "stats": []}
    for r in range(rounds):
        for mode in (("full", "stats") if r % 2 == 0 else ("stats", "full")):
            folder = os.path.join(root, "only-%s-%d" % (mode, r))
            c0 = time.process_time()
            bmtrace.start(folder, mode=mode)
            try:
                for i, value in enumerate(chains):
                    with bmtrace.sample("img%05d" % i):
                        for stage in stages:
                            value = stage(value)
            finally:
                bmtrace.stop()
            cpu[mode].append((time.process_time() - c0) / samples)
            shutil.rmtree(folder, ignore_errors=True)
    return {mode: statistics.median(values) for mode, values in cpu.items()}


def small_records(count, root):
    """Microseconds per traced call with one 4 KB output (each call a different array, as the values of
    successive samples are), and per np.save of it."""
    arrays = np.random.default_rng(1).standard_normal((count + 1, 1024)).astype(np.float32)

    @bmtrace.trace_stage("small")
    def stage(i):
        return arrays[i]

    folder = os.path.join(root, "small-np")
    os.makedirs(folder)
    t0 = time.perf_counter()
    for i in range(count):
        np.save(os.path.join(folder, "%d.npy" % i), arrays[i])
    np_us = (time.perf_counter() - t0) / count * 1e6
    results = {}
    for mode in ("full", "stats"):
        path = os.path.join(root, "small-" + mode)
        bmtrace.start(path, mode=mode)
        try:
            stage(count)  # warm-up: directories, writer
            t0 = time.perf_counter()
            for i in range(count):
                stage(i)
            results[mode] = (time.perf_counter() - t0) / count * 1e6
        finally:
            bmtrace.stop()
    return results, np_us


def disabled_overhead_us(number=200000):
    def bare(x):
        return x

    traced = bmtrace.trace_stage("noop")(bare)
    bare_t, traced_t = [], []
    for _ in range(7):
        bare_t.append(timeit.timeit(lambda: bare(1), number=number) / number)
        traced_t.append(timeit.timeit(lambda: traced(1), number=number) / number)
    return (statistics.median(traced_t) - statistics.median(bare_t)) * 1e6


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10 samples, 3 rounds, 1,000 small records")
    parser.add_argument("--samples", type=int, default=None)
    parser.add_argument("--rounds", type=int, default=None)
    args = parser.parse_args(argv)
    samples = args.samples or (10 if args.quick else 40)
    rounds = args.rounds or (3 if args.quick else 5)
    small_count = 1000 if args.quick else 5000
    root = tempfile.mkdtemp(prefix="bench_pipeline_", dir=os.environ.get("BENCH_DIR"))
    try:
        t, cpu, sizes = pipeline_figures(samples, rounds, root)
        only = recording_only(samples, rounds, root)
        small, np_us = small_records(small_count, root)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    disabled = disabled_overhead_us(50000 if args.quick else 200000)
    plain, manual, full, stats = t["plain"], t["np.save"], t["full"], t["stats"]
    print("pipeline, %d samples x 4 stages (median of %d interleaved rounds, whole runs):" % (samples, rounds))
    print("  untraced %.2f s, np.save by hand %.2f s, bmtrace full %.2f s, bmtrace stats %.2f s"
          % (plain, manual, full, stats))
    print("  (1) full / np.save            %.2fx   (target <= 1.25x)" % (full / manual))
    print("      bytes on disk full / hand  %.2fx   (%.0f MB vs %.0f MB)"
          % (sizes["full"] / sizes["np.save"], sizes["full"] / 1e6, sizes["np.save"] / 1e6))
    cost_full, cost_stats = full - plain, stats - plain
    print("  (2) stats cost / full cost     %.0f%%    (target <= 10%%; time above untraced: %.3f s vs %.3f s;"
          " whole runs %.0f%%)" % (100 * cost_stats / cost_full if cost_full > 0 else float("nan"),
                                   cost_stats, cost_full, 100 * stats / full))
    cpu_full, cpu_stats = cpu["full"] - cpu["plain"], cpu["stats"] - cpu["plain"]
    print("      CPU time (all threads; steadier than wall time on a shared machine): full / np.save %.2fx,"
          " stats cost / full cost %.0f%%" % (cpu["full"] / cpu["np.save"],
                                               100 * cpu_stats / cpu_full if cpu_full > 0 else float("nan")))
    print("      recording only (CPU per sample, stages return outputs computed beforehand): stats %.1f ms,"
          " full %.1f ms, stats / full %.0f%%" % (only["stats"] * 1e3, only["full"] * 1e3,
                                                   100 * only["stats"] / only["full"]))
    print("  (3) small records (4 KB)       %.1f us per record full, %.1f us stats  (target <= 10 us;"
          " np.save %.1f us)" % (small["full"], small["stats"], np_us))
    print("  (6) disabled path              +%.3f us per call  (target < 0.3 us)" % disabled)


if __name__ == "__main__":
    main()
