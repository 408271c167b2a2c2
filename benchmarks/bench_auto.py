"""Cost of bmtrace.auto, measured in one process against the bare library calls.

1. No active run (auto tracing requested): the library functions are the original objects, so the
   cost is zero by construction; the timing difference is printed as a check (noise only).
2. Run active, full mode: a patched cv2.resize (640x480x3 -> 224x224) and cv2.cvtColor (small image),
   per call: bare time, patched time, ratio, and the absolute extra microseconds (this includes
   writing the input and output payloads). "vs decorated" is the extra time over a hand-written
   @trace_stage function recording the same arrays: bmtrace.auto's own share of the cost.
3. Run active, stats mode: the same calls (statistics and hashes only, no payload files).
4. bmtrace.auto's own bookkeeping per recorded call, without the recorder's I/O: binding the
   arguments, reading the parameters, building the identity, choosing the sample key.
5. With --torch: a model of 40 small layers; only its outermost call records, the 40 submodule
   calls pass through the patched Module.__call__: extra microseconds per forward.

Run: python benchmarks/bench_auto.py [--number N] [--torch]
"""
import argparse
import os
import shutil
import statistics
import sys
import tempfile
import timeit

import cv2
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import bmtrace  # noqa: E402
import bmtrace.auto  # noqa: E402

FRAME = np.random.default_rng(0).integers(0, 256, (480, 640, 3), dtype=np.uint8)
SMALL = np.random.default_rng(1).integers(0, 256, (32, 32, 3), dtype=np.uint8)
ORIGINAL_RESIZE, ORIGINAL_CVT = cv2.resize, cv2.cvtColor


def resize_call():
    return cv2.resize(FRAME, (224, 224), interpolation=cv2.INTER_LINEAR)


def bare_resize_call():
    return ORIGINAL_RESIZE(FRAME, (224, 224), interpolation=cv2.INTER_LINEAR)


def color_call():
    return cv2.cvtColor(SMALL, cv2.COLOR_BGR2RGB)


def bare_color_call():
    return ORIGINAL_CVT(SMALL, cv2.COLOR_BGR2RGB)


@bmtrace.trace_stage("resize")
def decorated_resize(img):
    return ORIGINAL_RESIZE(img, (224, 224), interpolation=cv2.INTER_LINEAR)


@bmtrace.trace_stage("color")
def decorated_color(img):
    return ORIGINAL_CVT(img, cv2.COLOR_BGR2RGB)


def per_call_us(fn, number, repeats=5):
    """Median microseconds per call over ``repeats`` batches of ``number`` calls."""
    fn()  # warm up (first payload directory, writer threads)
    return statistics.median(timeit.repeat(fn, number=number, repeat=repeats)) / number * 1e6


def with_run(mode, body):
    root = tempfile.mkdtemp(prefix="bench_auto_")
    try:
        with bmtrace.run(os.path.join(root, "run"), mode=mode):
            with bmtrace.sample("bench"):
                return body()
    finally:
        shutil.rmtree(root, ignore_errors=True)


def row(label, bare_us, patched_us, decorated_us=None):
    line = ("  %-30s bare %8.1f us  auto %8.1f us  ratio %7.2fx  extra %8.1f us"
            % (label, bare_us, patched_us, patched_us / bare_us, patched_us - bare_us))
    if decorated_us is not None:
        line += "  vs decorated %+7.1f us" % (patched_us - decorated_us)
    print(line)


def bookkeeping_us(number):
    """Microseconds per call spent in bmtrace.auto itself for cv2.resize, the recorder excluded."""
    from bmtrace.auto import control, record
    from bmtrace.auto.libraries import ops_for

    op = next(o for o in ops_for("cv2") if o.name == "cv2.resize")
    settings = control.Settings(("cv2",), None)
    args, kwargs = (FRAME, (224, 224)), {"interpolation": cv2.INTER_LINEAR}

    def once():
        bound = op.bind(args, kwargs)
        settings.samples.before(op, bound)
        record._identity(op, bound, settings)
        op.inputs(bound)

    return per_call_us(once, number)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--number", type=int, default=200, help="calls per timed batch (default 200)")
    parser.add_argument("--torch", action="store_true", help="also time a torch model forward")
    args = parser.parse_args()
    n = args.number

    bmtrace.auto(["cv2", "torch"])
    untouched = cv2.resize is ORIGINAL_RESIZE and cv2.cvtColor is ORIGINAL_CVT
    print("1. no active run: cv2 functions are the original objects: %s" % untouched)
    row("cv2.resize (no run)", per_call_us(bare_resize_call, n), per_call_us(resize_call, n))

    for mode in ("full", "stats"):
        print("%d. run active, %s mode (one stage record per call)" % (2 if mode == "full" else 3, mode))

        def measure():
            assert cv2.resize is not ORIGINAL_RESIZE
            return [("cv2.resize 640x480 -> 224x224", per_call_us(bare_resize_call, n), per_call_us(resize_call, n),
                     per_call_us(lambda: decorated_resize(FRAME), n)),
                    ("cv2.cvtColor 32x32", per_call_us(bare_color_call, n * 5), per_call_us(color_call, n * 5),
                     per_call_us(lambda: decorated_color(SMALL), n * 5))]

        for measured in with_run(mode, measure):
            row(*measured)

    print("4. bmtrace.auto bookkeeping per recorded call (no I/O)")
    print("  %-30s %8.2f us" % ("cv2.resize", bookkeeping_us(n * 50)))
    if args.torch:
        import torch

        model = torch.nn.Sequential(*[torch.nn.Linear(16, 16) for _ in range(40)]).eval()
        x = torch.rand(1, 16)

        def forward():
            with torch.no_grad():
                return model(x)

        bare_us = per_call_us(forward, n)
        patched_us = with_run("stats", lambda: per_call_us(forward, n))
        print("5. torch model of 40 Linear layers, run active (stats): outermost call recorded, 40 nested pass through")
        row("model(x)", bare_us, patched_us)
    bmtrace.auto.cancel()


if __name__ == "__main__":
    main()
