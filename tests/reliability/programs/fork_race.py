"""Threads make the process's first traced call while the main thread starts fork and spawn workers.

usage: fork_race.py RUN_DIR THREADS FORKS SPAWNS
Every worker records one call of stage "work" under its own sample key, input arange(4) + its number.
"""
import multiprocessing
import sys
import threading

import numpy as np

import bmtrace


@bmtrace.trace_stage("work")
def work(x):
    return x * 2


def worker(key, number):
    with bmtrace.sample(key):
        work(np.arange(4) + number)


def main(run_dir, threads, forks, spawns):
    jobs = []
    number = 0
    with bmtrace.run(run_dir, side="race", overwrite=True):
        started = []
        for i in range(threads):
            t = threading.Thread(target=worker, args=("thread%d" % i, number))
            number += 1
            t.start()
            started.append(t)
        for method, count in (("fork", forks), ("spawn", spawns)):
            ctx = multiprocessing.get_context(method)
            for i in range(count):
                p = ctx.Process(target=worker, args=("%s%d" % (method, i), number))
                number += 1
                p.start()
                jobs.append(p)
        for t in started:
            t.join()
        for p in jobs:
            p.join()
    failed = [p.exitcode for p in jobs if p.exitcode != 0]
    if failed:
        sys.exit("workers failed with exit codes %s" % failed)


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]))
