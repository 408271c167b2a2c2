"""A long stats-mode diff judged on every core: forked children take contiguous ranges of call pairs.

A pair of stats-mode records is judged in Python, from its journal lines and sketches: about 120 us
a call pair, so one core judges two 100k-sample runs in most of a minute while the others idle.
Threads would not help (the judging holds the GIL). On Linux, ``Split.start`` forks a child for each
range after the first, before the diff starts any thread of its own; each child judges its range
exactly as the diff's loop would (the same ``judge`` on the same pairs, with a fresh verdict cache,
as a new sample gets anyway) and writes its entries, pickled in batches, to a temporary file. The
parent judges the first range meanwhile, then reads the children's entries in pair order, and does
everything else itself: explanations, predictions, progress. The result is the one process's, entry
for entry.

Ranges start where a sample starts, so a sample's verdict cache and representation mapping never
cross a boundary. A child that fails, is killed or stops writing leaves its range to the parent:
nothing is lost, only the time. A child writes what it has judged at least once a second, however
slow its pairs, so one that writes nothing for a minute is stuck, not busy. Runs holding payloads
are compared by the diff's reading threads instead.

A fork must not break the user's program. So there is none while another thread of the program runs
(a lock it holds at the fork, an import's say, stays held in the child forever), nor when the program
handles or ignores SIGCHLD, from Python or from C (a reaper, or the kernel, would take the diff's
children). A child's pid is recorded as its fork returns, before a signal's handler can run (a Ctrl-C
at that instant still finds the child to stop), and signals wait until the child has reset the
program's handlers. A child runs no handler of the program's (a SIGTERM sent to the process group
stops it, as it would the diff), dies with its parent, and leaves by os._exit, so no exit handler or
buffered output of the program runs twice.
"""
from __future__ import annotations

import contextlib
import gc
import itertools
import operator
import os
import pickle
import signal
import sys
import tempfile
import threading
import time
import warnings

from ..compare.results import StageComparison, TensorComparison
from ..errors import UsageError
from ..store.indexed_calls import collector_paused
from .collector import YOUNGEST_THRESHOLD

MIN_PAIRS = 2000     # per process: below this, forking and reading back cost more than they save
MAX_PROCESSES = 8
BATCH = 1000         # entries per pickle: the parent holds one batch of bytes at a time
STALL_SECONDS = 60   # a child that writes nothing for this long is stopped
FLUSH_SECONDS = 1    # a child writes what it has at least this often, however few entries: it is alive
_STATUS = "/proc/self/status"
_DONE = "done"


def check_jobs(jobs):
    """``jobs`` as an int (None stays None: one process per core).

    Raises:
        UsageError: not a whole number of 1 or more.
    """
    if jobs is None:
        return None
    try:
        jobs = None if isinstance(jobs, bool) else operator.index(jobs)  # True is an index, not a count
    except TypeError:
        jobs = None
    if jobs is None or jobs < 1:
        raise UsageError("jobs must be a whole number of processes, 1 or more (1: no other process), or None "
                         "for one per core")
    return jobs


def processes_wanted(jobs, pairs, runs):
    """How many processes judge ``pairs`` (1: the diff's own loop, no fork).

    ``jobs``: the user's limit (None: one per core). Only forked on Linux (elsewhere fork is unsafe or
    missing), from a program with no other thread running and default SIGCHLD handling, and only for
    runs found through their index that hold no payload at all."""
    if jobs is not None and jobs <= 1:
        return 1
    if not sys.platform.startswith("linux") or not hasattr(os, "fork"):
        return 1
    if _other_threads() or signal.getsignal(signal.SIGCHLD) not in (signal.SIG_DFL, None):
        return 1
    if _sigchld_taken():
        return 1
    if not all(_payload_free(run) for run in runs):
        return 1
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    wanted = min(cores if jobs is None else jobs, MAX_PROCESSES, len(pairs) // MIN_PAIRS)
    return max(1, wanted)


def _other_threads():
    """True when a Python thread other than this one runs (the diff's own sweep thread excepted: its
    pool is made anew in a child, ``compare.metrics``)."""
    current = threading.current_thread()
    return any(thread is not current and not thread.name.startswith("bmtrace-metrics")
               for thread in threading.enumerate())


def _sigchld_taken():
    """True when SIGCHLD is ignored or caught below Python (a C library's ``signal``: the signal module
    still says SIG_DFL): the kernel, or that handler, would reap the children before the diff reads
    them. The process's masks in /proc; one that cannot be read tells nothing."""
    bit = 1 << (signal.SIGCHLD - 1)
    try:
        with open(_STATUS) as f:
            for line in f:
                name, _, value = line.partition(":")
                if name in ("SigIgn", "SigCgt") and int(value, 16) & bit:
                    return True
    except (OSError, ValueError):
        pass
    return False


def _payload_free(run):
    """True for a lazy run served from its index whose rows name no payload file."""
    codes = getattr(run, "_call_codes", None)
    if codes is None:
        return False
    payloads = codes.columns.payloads
    return bool(payloads.null.all())


def boundaries(pairs, parts):
    """``parts + 1`` indexes cutting ``pairs`` into ranges of about equal length, each cut where a
    sample starts (a range may be empty when one sample holds most pairs)."""
    cuts = [0]
    total = len(pairs)
    for i in range(1, parts):
        at = max(cuts[-1], total * i // parts)
        while 0 < at < total and pairs[at].sample == pairs[at - 1].sample:
            at += 1
        cuts.append(at)
    cuts.append(total)
    return cuts


class Split:
    """The ranges of call pairs judged by forked children; ``judged(i)`` is pair ``i``'s
    ``(entry, settled)`` from a child, or None when the parent judges it."""

    def __init__(self, cuts, notes):
        self.cuts = cuts
        self.children = []     # (first, end, pid, file): a child's range and where it writes
        self.forked = []       # the pids of the children not reaped yet
        self.current = None    # (first, end, its entries) of the range being read
        self.notes = notes     # the diff's notes: a pair's from a child join them as the pair is read

    @classmethod
    def start(cls, pairs, runs, processes, judge, notes):
        """Fork ``processes - 1`` children, each running ``judge(pair, cache)`` over its range (adding to
        ``notes``); None when ``processes`` < 2 or no child could start."""
        if processes < 2:
            return None
        split = cls(boundaries(pairs, processes), notes)
        try:
            for first, end in zip(split.cuts[1:-1], split.cuts[2:]):
                if first == end:
                    continue
                with _signals_held() as mask:  # none reaches the child before it resets the handlers
                    child = _fork(pairs, runs, first, end, judge, notes, mask, split.forked)
                    if child is not None:
                        split.children.append((first, end) + child)
        except BaseException:  # (a KeyboardInterrupt between two forks, say): no child left behind
            split.close()
            raise
        return split if split.children else None

    def judged(self, index):
        """``(entry, settled)`` of pair ``index`` from the child whose range holds it, or None. The notes
        the child made judging it join the diff's now, where one process would have made them."""
        current = self.current
        if current is None or not current[0] <= index < current[1]:
            current = self._open_range(index)
            if current is None:
                return None
        first, end, entries = current
        entry, settled, notes = entries[index - first]
        if notes:
            self.notes.extend(notes)
        return entry, settled

    def _open_range(self, index):
        for child in self.children:
            first, end, pid, f = child
            if first <= index < end:
                entries = self._collect(child)
                self.current = (first, end, entries) if entries is not None else None
                return self.current
        return None

    def _collect(self, child):
        """The child's entries once it has exited, all of them, or None (the parent judges the range)."""
        first, end, pid, f = child
        status = _exit_status(pid, f)
        self.forked.remove(pid)  # reaped (or not ours to reap any more: its pid may be another's soon)
        self.children = [c for c in self.children if c is not child]
        try:
            if status != 0:
                return None
            f.seek(0)
            with collector_paused():  # long-lived entries, no garbage: the collector would walk them all
                return self._read_entries(f, end - first)
        except (OSError, EOFError, pickle.UnpicklingError, ValueError, TypeError, AttributeError, IndexError):
            return None
        finally:
            f.close()

    def _read_entries(self, f, count):
        """The ``count`` entries a child wrote to ``f``, or None when it did not finish writing them."""
        entries = []
        while True:
            batch = pickle.load(f)
            if isinstance(batch, tuple) and batch and batch[0] == _DONE:
                return entries if batch[1] == count == len(entries) else None
            entries.extend(batch)

    def close(self):
        """Stop and reap the children not read (the diff stopped early or failed)."""
        for pid in self.forked:
            try:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
            except OSError:
                pass
        for first, end, pid, f in self.children:
            f.close()
        self.forked, self.children = [], []


def _exit_status(pid, f):
    """The child's exit status once it has exited; None when it could not be had, or when the child
    wrote nothing to ``f`` for ``STALL_SECONDS`` (it is killed then)."""
    size, since = -1, time.monotonic()
    try:
        while True:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                return status
            now = os.fstat(f.fileno()).st_size
            if now != size:
                size, since = now, time.monotonic()
            elif time.monotonic() - since > STALL_SECONDS:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
                return None
            time.sleep(0.01)
    except OSError:  # (ChildProcessError: reaped by another)
        return None


@contextlib.contextmanager
def _signals_held():
    """Block every signal meanwhile in this thread (those sent to it arrive after; one sent to the
    process may still reach another thread, pyarrow's say); gives the signal mask before."""
    before = signal.pthread_sigmask(signal.SIG_BLOCK, ())
    try:
        signal.pthread_sigmask(signal.SIG_BLOCK, signal.valid_signals())
        yield before
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, before)


def _fork(pairs, runs, first, end, judge, notes, mask, forked):
    """Fork a child judging ``pairs[first:end]``; ``(pid, temporary file)`` or None. ``mask``: the
    signal mask the child takes (the program's, before the fork blocked every signal); ``forked``: the
    child's pid is appended to it as the fork returns."""
    try:
        f = tempfile.TemporaryFile(prefix="bmtrace-diff-")
    except OSError:
        return None
    parent = os.getpid()
    try:
        with warnings.catch_warnings():
            # Python 3.12+ warns of forking a process with threads: pyarrow's pool has native ones, after
            # reading the index (processes_wanted saw no Python thread). The child calls none of pyarrow.
            warnings.simplefilter("ignore", DeprecationWarning)
            pid = _fork_into(forked)
    except OSError:
        f.close()
        return None
    if pid:
        return pid, f
    code = 1
    try:  # the child: judge, write, and leave without running the program's exit handlers
        _become_child(parent, runs, mask)
        code = _judge_range(pairs, first, end, judge, notes, f, parent)
    except BaseException:
        code = 1
    finally:
        os._exit(code)


def _fork_into(pids):
    """``os.fork()``, its pid appended to ``pids`` by C code alone: a signal's handler (Ctrl-C's
    KeyboardInterrupt) runs between two bytecodes, and one right after ``pid = os.fork()`` returned
    would lose the pid, leaving the child unstopped and unreaped."""
    pids.extend(itertools.starmap(os.fork, ((),)))
    return pids[-1]


def _become_child(parent, runs, mask):
    for number in signal.valid_signals():  # the program's handlers are not the child's
        if callable(signal.getsignal(number)):
            signal.signal(number, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_SETMASK, mask)  # only now: a signal would have run the program's
    _die_with_parent()
    if os.getppid() != parent:  # the parent died before that
        os._exit(1)
    gc.freeze()  # the parent's objects, never collected here: not touched, so their pages stay shared
    # entries are made and dropped a batch at a time: collected at the diff's pace, not the default's
    # (bmtrace.diff.collector undoes the parent's setting in a forked process)
    gc.set_threshold(YOUNGEST_THRESHOLD, *gc.get_threshold()[1:])
    for run in runs:
        run.after_fork()


def _die_with_parent():
    """Have the kernel kill this child when its parent dies (Linux prctl PR_SET_PDEATHSIG); the child also
    checks its parent between batches."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # 1: PR_SET_PDEATHSIG
    except (OSError, AttributeError, TypeError, ValueError):
        pass


def _judge_range(pairs, first, end, judge, notes, f, parent):
    """Judge ``pairs[first:end]`` into ``f``: batches of ``(entry, settled, the notes judging it made)``."""
    from .pairs import ContentCache

    cache = ContentCache()
    pickler = pickle.Pickler(f, pickle.HIGHEST_PROTOCOL)
    pickler.dispatch_table = {TensorComparison: _by_slots, StageComparison: _by_slots}

    def write(obj):
        pickler.dump(obj)
        pickler.clear_memo()  # each batch is read back by a pickle.load of its own
        f.flush()  # the file grows: the parent sees this child alive

    batch = []
    written = time.monotonic()
    for index in range(first, end):
        before = len(notes)
        entry, settled = judge(pairs[index], cache)
        batch.append((entry, settled, tuple(notes[before:]) if len(notes) > before else None))
        # a short batch too when pairs are slow: the parent stops a child that writes nothing for long
        if len(batch) >= BATCH or time.monotonic() - written >= FLUSH_SECONDS:
            write(batch)
            batch = []
            written = time.monotonic()
            if os.getppid() != parent:
                return 1
    if batch:
        write(batch)
    write((_DONE, end - first))
    return 0


def _by_slots(result):
    """How a child pickles a result: its slots' values in ``__slots__`` order. The parent unpickles an
    entry so in two thirds of the time pickle's own slot-by-name state takes (8.4 against 13.2 us)."""
    cls = type(result)
    return _from_slots, (cls, tuple([getattr(result, name) for name in cls.__slots__]))


def _from_slots(cls, values):
    out = object.__new__(cls)
    for name, value in zip(cls.__slots__, values):
        setattr(out, name, value)
    return out
