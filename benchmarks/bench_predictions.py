"""Time of the task-level comparison of a large detection run: recognise, compare, merge, mAP.

Records two runs through the public API, the way the issue's closing note asks: stats mode for the
image stages and full payloads for the prediction stages (stage_modes). Each sample has a decode
stage (stats) and nms + rescale stages whose outputs are (n, 6) arrays (n ~ 14). Run B moves the
boxes that touch the image border by 1 px and adds a low-score box to every 10th sample.

Then measures, from warm page cache: opening both runs and pairing calls, recognising and comparing
every prediction call pair (bmtrace.predictions.compare_calls), merging per stage, and COCO mAP of
B against A over the last prediction stage.

Run: python benchmarks/bench_predictions.py [--samples 5000]
"""
import argparse
import os
import shutil
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import bmtrace  # noqa: E402
from bmtrace.predictions import compare_calls, merge_comparisons, recognize_call  # noqa: E402
from bmtrace.predictions.coco_map import coco_map  # noqa: E402

WIDTH, HEIGHT = 640, 480


@bmtrace.trace_stage("decode")
def decode(image):
    return image


@bmtrace.trace_stage("nms", meta={"kind": "detections", "box_format": "xyxy"})
def nms(rows):
    return rows


@bmtrace.trace_stage("rescale", meta={"kind": "detections", "box_format": "xyxy"})
def rescale(rows, port):
    rows = rows.copy()
    limit = np.array([WIDTH, HEIGHT, WIDTH, HEIGHT], np.float32) - (1 if port else 0)
    rows[:, :4] = np.minimum(rows[:, :4], limit)
    return rows


def _detections(rng, n):
    xy = rng.uniform(0, [WIDTH - 20, HEIGHT - 20], (n, 2))
    wh = rng.uniform(20, 200, (n, 2))
    rows = np.concatenate([xy, xy + wh, rng.uniform(0.25, 1.0, (n, 1)), rng.integers(0, 80, (n, 1))], axis=1)
    return rows.astype(np.float32)


def record(path, samples, port):
    rng = np.random.default_rng(0)
    image = np.zeros((64, 64, 3), np.uint8)
    with bmtrace.run(path, side="port" if port else "original", stage_modes={"decode": "stats"}):
        for i in range(samples):
            with bmtrace.sample("img%05d.jpg" % i):
                decode(image)
                rows = _detections(rng, int(rng.integers(8, 20)))
                if port and i % 10 == 0:
                    rows = np.concatenate([rows, [[5, 5, 50, 50, 0.2, 1]]]).astype(np.float32)
                rescale(nms(rows), port)


def measure(path_a, path_b):
    timings = {}
    cpu = time.process_time()
    t = time.perf_counter()
    run_a, run_b = bmtrace.open_run(path_a), bmtrace.open_run(path_b)
    pairs = {}
    for call in run_b.calls():
        pairs[(call.sample, call.stage, call.occurrence)] = call
    timings["open + pair"] = time.perf_counter() - t
    t = time.perf_counter()
    per_stage, last = {}, []
    for call_a in run_a.calls():
        if call_a.stage == "decode":
            continue
        call_b = pairs[(call_a.sample, call_a.stage, call_a.occurrence)]
        result = compare_calls(call_a, call_b)
        per_stage.setdefault(call_a.stage, []).append(result)
        if call_a.stage == "rescale":
            last.append((call_a.sample, result.a, result.b))
    timings["recognise + compare"] = time.perf_counter() - t
    t = time.perf_counter()
    merged = {stage: merge_comparisons(items) for stage, items in per_stage.items()}
    timings["merge"] = time.perf_counter() - t
    t = time.perf_counter()
    agreement = coco_map(last)
    timings["coco mAP"] = time.perf_counter() - t
    timings["(CPU time, all steps)"] = time.process_time() - cpu
    return timings, merged, agreement


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=5000)
    args = parser.parse_args(argv)
    root = tempfile.mkdtemp(prefix="bench_predictions_")
    try:
        t = time.perf_counter()
        for side, port in (("a", False), ("b", True)):
            record(os.path.join(root, side), args.samples, port)
        print("recorded 2 x %d samples in %.1f s" % (args.samples, time.perf_counter() - t))
        bmtrace.open_run(os.path.join(root, "a")).calls()  # warm the page cache
        timings, merged, agreement = measure(os.path.join(root, "a"), os.path.join(root, "b"))
        for stage, result in merged.items():
            print("%-8s %s" % (stage, result.summary()))
        print(agreement.summary())
        cpu = timings.pop("(CPU time, all steps)")
        for name, seconds in timings.items():
            print("%-22s %6.2f s" % (name, seconds))
        print("%-22s %6.2f s wall, %.2f s CPU (load average %.1f)" % ("total", sum(timings.values()), cpu,
                                                                     os.getloadavg()[0]))
        # The whole `bmtrace diff` of the two runs: the ladder on every pair plus the task step above.
        t = time.perf_counter()
        result = bmtrace.diff(os.path.join(root, "a"), os.path.join(root, "b"), explain=False)
        print("%-22s %6.2f s wall (%d call pairs; %s)" % ("bmtrace.diff", time.perf_counter() - t,
                                                          len(result.stages), result.task["message"]))
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
