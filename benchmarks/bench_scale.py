"""Cost of long stats-mode runs: does anything grow with the number of samples?

For 1k, 10k and 100k samples x 3 stages (decode 32x32x3 uint8 -> normalize 3x32x32 float32 ->
infer 10 logits), recorded in stats mode, each step in its own subprocess:
  record  peak RSS of the recording loop and of the whole process, loop time, stop() time, and the CPU
          time and peak RSS of the child that parses the journal while it grows (index_ahead)
  show    `bmtrace show RUN` time and peak RSS
  diff    `bmtrace diff A B` of two such runs (B's logits differ slightly) time and peak RSS: most call
          pairs are settled by their hashes
  port    `bmtrace diff A C` where C's decode differs on a few pixels (as another decoder's would), so
          every stage differs and every call pair is judged from its statistics and sketch; both diffs
          use a process per core (bmtrace.diff.workers), and "-j 1" times the port diff in one
Targets (issue 13): recording RSS flat in the number of samples, stop() < 2 s, show < 2 s and
diff < 15 s at 100k samples, diff memory bounded by a chunk rather than by the run.

Run: python benchmarks/bench_scale.py [--quick] [--sizes 1000,10000]   (--quick stops at 10k)
"""
import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

RECORD = r"""
import resource, sys, time
import numpy as np
import bmtrace

path, samples, noise, port = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), sys.argv[4] == "port"
frames = [np.random.default_rng(i).integers(0, 256, (32, 32, 3), dtype=np.uint8) for i in range(16)]
weights = np.random.default_rng(99).standard_normal((3, 10)).astype(np.float32)

@bmtrace.trace_stage("decode")
def decode(i):
    frame = frames[i % 16].copy()
    frame[0, 0, 0] = i % 251
    if port:
        frame[::7, ::5, 0] ^= 1  # a few pixels one level apart (no wrap-around): as another JPEG decoder gives
    return frame

@bmtrace.trace_stage("normalize")
def normalize(img):
    return (img.astype(np.float32) / np.float32(255.0)).transpose(2, 0, 1).copy()

@bmtrace.trace_stage("infer")
def infer(x):
    return x.mean(axis=(1, 2)) @ weights + np.float32(noise)

bmtrace.start(path, mode="stats", side="scale")
rss_start = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
t0 = time.perf_counter()
for i in range(samples):
    with bmtrace.sample("frame%06d" % i):
        infer(normalize(decode(i)))
loop = time.perf_counter() - t0
rss_loop = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
t0 = time.perf_counter()
bmtrace.stop()
stop = time.perf_counter() - t0
follower = resource.getrusage(resource.RUSAGE_CHILDREN)
print("%f %f %d %d %f %d" % (loop, stop, rss_start, rss_loop, follower.ru_utime + follower.ru_stime,
                             follower.ru_maxrss))
"""


def _child(args):
    """Run a child; return (seconds, peak RSS in MB, stdout)."""
    env = dict(os.environ, PYTHONPATH=os.environ.get("PYTHONPATH", REPO))
    t0 = time.perf_counter()
    # cwd outside the repository: `python -c` puts the cwd first on sys.path, before PYTHONPATH
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
                            cwd=tempfile.gettempdir())
    out = proc.stdout.read()
    err = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    elapsed = time.perf_counter() - t0
    if proc.returncode not in (0, 1, 3):  # diff exits 1/3 on findings
        raise RuntimeError("%s failed (%d): %s" % (args[:3], proc.returncode, err.decode()[-2000:]))
    return elapsed, usage.ru_maxrss / 1024.0, out.decode()


def measure(samples, root):
    runs = []
    record = {}
    for name, noise, port in (("a", 0.0, "same"), ("b", 1e-5, "same"), ("c", 0.0, "port")):
        path = os.path.join(root, "%s-%d" % (name, samples))
        _, rss, out = _child([sys.executable, "-c", RECORD, path, str(samples), str(noise), port])
        loop, stop, rss_start, rss_loop, follow_s, follow_rss = out.split()
        record[name] = (float(loop), float(stop), int(rss_start) / 1024.0, int(rss_loop) / 1024.0, rss,
                        float(follow_s), int(follow_rss) / 1024.0)
        runs.append(path)
    show_s, show_rss, _ = _child([sys.executable, "-m", "bmtrace", "show", runs[0]])
    diff_s, diff_rss, _ = _child([sys.executable, "-m", "bmtrace", "diff", runs[0], runs[1], "--no-explain", "-q"])
    port_s, port_rss, _ = _child([sys.executable, "-m", "bmtrace", "diff", runs[0], runs[2], "--no-explain", "-q"])
    alone_s, _, _ = _child([sys.executable, "-m", "bmtrace", "diff", runs[0], runs[2], "--no-explain", "-q", "-j", "1"])
    journal_mb = sum(os.path.getsize(os.path.join(runs[0], "journal", f))
                     for f in os.listdir(os.path.join(runs[0], "journal"))) / 1e6
    loop, stop, rss_start, rss_loop, rss, follow_s, follow_rss = record["a"]
    return (samples, loop, rss_start, rss_loop, rss, stop, follow_s, follow_rss, journal_mb, show_s, show_rss,
            diff_s, diff_rss, port_s, port_rss, alone_s)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1k and 10k samples only")
    parser.add_argument("--sizes", default=None, help="comma-separated sample counts")
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")] if args.sizes else (
        [1000, 10000] if args.quick else [1000, 10000, 100000])
    root = tempfile.mkdtemp(prefix="bench_scale_", dir=os.environ.get("BENCH_DIR"))
    rows = []
    try:
        for samples in sizes:
            rows.append(measure(samples, root))
            shutil.rmtree(root, ignore_errors=True)
            os.makedirs(root, exist_ok=True)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    print("%8s %9s %9s %10s %10s %8s %9s %10s %11s %8s %8s %8s %8s %8s %8s %8s" % (
        "samples", "record s", "start MB", "record MB", "+stop MB", "stop s", "follow s", "follow MB", "journal MB",
        "show s", "show MB", "diff s", "diff MB", "port s", "port MB", "-j 1 s"))
    for row in rows:
        print("%8d %9.1f %9.0f %10.0f %10.0f %8.2f %9.1f %10.0f %11.1f %8.2f %8.0f %8.2f %8.0f %8.2f %8.0f %8.2f"
              % row)
    if len(rows) >= 2:
        (n0, _, _, r0, s0, *_), (n1, _, _, r1, s1, *_) = rows[0], rows[-1]
        print("RSS growth per sample: %.1f KB while recording (target: flat), %.1f KB including stop()"
              % ((r1 - r0) * 1024.0 / (n1 - n0), (s1 - s0) * 1024.0 / (n1 - n0)))
    print("start MB: peak RSS once start() returned; record MB: peak RSS at the end of the recording loop; "
          "+stop MB: peak RSS of the whole process (stop() builds the index); follow s/MB: CPU time and peak RSS "
          "of the child parsing the journal while it grows (another core; none below 16 MB of journal)")
    print("diff: B's logits differ (most pairs settled by hashes); port: C's decode differs (every pair judged); "
          "-j 1 s: the port diff in one process (diff and port use one per core: bmtrace.diff.workers)")
    print("targets at 100k samples: stop < 2 s, show < 2 s, diff < 15 s with memory bounded by a chunk")


if __name__ == "__main__":
    main()
