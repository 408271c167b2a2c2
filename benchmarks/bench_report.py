"""Time to build the HTML report for 100 samples x 6 stages, with its parts and the file size.

Records the report tests' real image pipeline (decode -> resize -> to_rgb -> normalize -> infer ->
postprocess, cv2 + numpy; run B resizes with nearest-neighbour) twice, then times:
  1. the diff (``bmtrace.diff``, what `bmtrace report` runs first),
  2. rendering the HTML with the default caps (pictures for the worst 3 entries of each stage),
  3. rendering tables only (no pictures) to show what the pictures cost,
and prints the file size. Matplotlib's import is timed separately: it is paid once per process.

Run: python benchmarks/bench_report.py [--samples 100] [--image-size 320] [--net-size 224] [--keep DIR]
"""
import argparse
import os
import shutil
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import bmtrace  # noqa: E402
from tests.report.pipeline import STAGES, record_pair  # noqa: E402  (the report tests' pipeline)


def timed(fn, *args, **kwargs):
    start = time.perf_counter()
    value = fn(*args, **kwargs)
    return value, time.perf_counter() - start


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=100)
    parser.add_argument("--image-size", type=int, default=320, help="decoded picture side (pixels)")
    parser.add_argument("--net-size", type=int, default=224, help="network input side after resize")
    parser.add_argument("--keep", metavar="DIR", help="work in DIR and keep the runs and report")
    args = parser.parse_args(argv)

    work = args.keep or tempfile.mkdtemp(prefix="bmtrace-bench-report-")
    try:
        (path_a, path_b), t_record = timed(record_pair, work, n_samples=args.samples, planted="resize",
                                           image_size=args.image_size, size=args.net_size)
        run_a, run_b = bmtrace.open_run(path_a), bmtrace.open_run(path_b)

        from bmtrace.report.html import render_html

        result, t_diff = timed(bmtrace.diff, run_a, run_b)
        doc = result.to_json()
        _, t_import = timed(__import__, "matplotlib.figure")
        html, t_render = timed(render_html, result, run_a, run_b)
        tables, t_tables = timed(render_html, result, run_a, run_b, images_per_stage=0)
        out = os.path.join(work, "report.html")
        with open(out, "w", encoding="utf-8") as fh:
            fh.write(html)

        n_entries = len(doc["stages"])
        print("bench_report: %d samples x %d stages = %d stage records (pictures %dx%d -> %dx%d)"
              % (args.samples, len(STAGES), n_entries, args.image_size, args.image_size,
                 args.net_size, args.net_size))
        print("  record both runs (setup)   %7.2f s" % t_record)
        print("  diff                       %7.2f s" % t_diff)
        print("  matplotlib import (once)   %7.2f s" % t_import)
        print("  render HTML, default caps  %7.2f s  (%.1f MB)" % (t_render, len(html) / 1e6))
        print("  render HTML, tables only   %7.2f s  (%.2f MB)" % (t_tables, len(tables) / 1e6))
        print("  report total (diff+render) %7.2f s" % (t_diff + t_import + t_render))
        if args.keep:
            print("  report written to %s" % out)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
