"""A long stats-mode diff judged by forked children gives the one-process result, entry for entry."""
import os

import numpy as np
import pytest

import bmtrace
from bmtrace.compare.results import TensorComparison
from bmtrace.diff import workers
from bmtrace.diff.engine import _open
from bmtrace.errors import UsageError

pytestmark = pytest.mark.skipif(not hasattr(os, "fork") or not os.sys.platform.startswith("linux"),
                                reason="children are forked on Linux only")

SAMPLES = 40


def _record(path, mode="stats", port=False, extra_sample=False):
    frames = [np.random.default_rng(i).integers(0, 256, (20, 24, 3), dtype=np.uint8) for i in range(4)]

    @bmtrace.trace_stage("decode")
    def decode(i):
        frame = frames[i % 4].copy()
        frame[0, 0, 0] = i
        if port and i % 5 == 1:
            frame = frame[..., ::-1].copy()       # BGR in some samples: a channel swap
        elif port and i % 5 == 2:
            frame[::3, ::4, 1] ^= 1               # another decoder's rounding
        return frame

    @bmtrace.trace_stage("normalize")
    def normalize(img):
        x = (img.astype(np.float32) / np.float32(255.0)).transpose(2, 0, 1).copy()
        if port and img[0, 0, 0] == 7:
            x[0, 0, 0] = np.nan                   # one sample with a NaN
        return x

    @bmtrace.trace_stage("head")
    def head(x, i):
        if i == 13:
            raise ValueError("sample 13")         # an error in both programs
        if port and i == 21:
            raise KeyError("port only")           # and one in the port only
        return x.mean(axis=(1, 2)), x[:, :2, :2].copy()

    weights = np.random.default_rng(9).standard_normal((3, 10)).astype(np.float32)
    wide = np.random.default_rng(10).standard_normal((3, 1000)).astype(np.float32)

    @bmtrace.trace_stage("bigcls")
    def bigcls(x):  # 1000 classes: a sketch, not the values, so predictions are not compared (a note)
        return (x.mean(axis=(1, 2)) @ wide)[None]

    @bmtrace.trace_stage("named")
    def named(x, i):  # outputs named otherwise by the port from sample 30: paired by position (a note)
        key = "scores" if port and i >= 30 else "logits"
        return {key: x[:, 0, :4].copy()}

    @bmtrace.trace_stage("classify")
    def classify(x):
        logits = (x.mean(axis=(1, 2)) @ weights)[None]  # (1, 10): predictions whose top-1 is compared
        return logits[:, ::-1].copy() if port and x[0, 1, 1] > 0.5 else logits

    with bmtrace.run(path, mode=mode, side=path.name):
        for i in range(SAMPLES + (1 if extra_sample else 0)):
            with bmtrace.sample("img%03d.jpg" % i):
                x = normalize(decode(i))
                classify(x)
                if i >= 25:  # in the last range of two: its note comes before those of named, from 30
                    bigcls(x)
                named(x, i)
                for _ in range(2):                # a stage called twice: occurrences 0 and 1
                    try:
                        head(x, i)
                    except (ValueError, KeyError):
                        pass
    return str(path)


@pytest.fixture(scope="module")
def recorded(tmp_path_factory):
    root = tmp_path_factory.mktemp("workers")
    return {"ref": _record(root / "ref"), "port": _record(root / "port", port=True, extra_sample=True),
            "full": _record(root / "full", mode="full")}


@pytest.fixture
def small_ranges(monkeypatch):
    """Children for runs of a few dozen samples, and a count of the ranges they judged."""
    monkeypatch.setattr(workers, "MIN_PAIRS", 5)
    monkeypatch.setattr(workers, "BATCH", 7)  # several batches per child
    read = []
    original = workers.Split._read_entries

    def counted(self, f, count):
        entries = None
        try:
            entries = original(self, f, count)
            return entries
        finally:
            read.append(None if entries is None else len(entries))

    monkeypatch.setattr(workers.Split, "_read_entries", counted)
    return read


def _document(result):
    doc = result.to_json()
    doc.pop("elapsed_s")
    return doc


@pytest.mark.parametrize("options", [{}, {"explain": False}, {"tol": {"decode": 1}}, {"stages": "decode,head"}])
@pytest.mark.parametrize("jobs", [2, 3, 5])
def test_children_give_the_one_process_result(recorded, small_ranges, jobs, options):
    options = dict(options, allow_missing=True)
    alone = bmtrace.diff(recorded["ref"], recorded["port"], jobs=1, **options)
    assert small_ranges == []
    split = bmtrace.diff(recorded["ref"], recorded["port"], jobs=jobs, **options)
    assert len(small_ranges) == jobs - 1 and all(small_ranges)  # every child's range was read back
    assert _document(split) == _document(alone)
    assert not split.passed and split.first_divergence.stage == "decode"
    if options.get("stages") is None:  # notes made by the children and by the parent, in one order
        assert any("by position" in note for note in split.warnings)
        assert any("bigcls" in note for note in split.warnings)


def test_a_child_that_fails_leaves_its_range_to_the_parent(recorded, small_ranges, monkeypatch):
    def fails(*args):
        raise RuntimeError("a child that dies")

    monkeypatch.setattr(workers, "_judge_range", fails)
    alone = bmtrace.diff(recorded["ref"], recorded["port"], jobs=1, allow_missing=True)
    split = bmtrace.diff(recorded["ref"], recorded["port"], jobs=3, allow_missing=True)
    assert small_ranges == []  # both children exited with an error: nothing was read
    assert _document(split) == _document(alone)


def test_a_child_that_stops_writing_leaves_its_range_to_the_parent(recorded, small_ranges, monkeypatch):
    original = workers._judge_range

    def cut_short(pairs, first, end, judge, notes, f, parent):
        original(pairs, first, end, judge, notes, f, parent)
        f.truncate(f.tell() // 2)  # exits 0, without the end of what it wrote
        return 0

    monkeypatch.setattr(workers, "_judge_range", cut_short)
    alone = bmtrace.diff(recorded["ref"], recorded["port"], jobs=1, allow_missing=True)
    split = bmtrace.diff(recorded["ref"], recorded["port"], jobs=2, allow_missing=True)
    assert small_ranges == [None]
    assert _document(split) == _document(alone)


def test_ranges_start_where_a_sample_starts(recorded):
    pairs = bmtrace.diff(recorded["ref"], recorded["port"], allow_missing=True, jobs=1).stages
    for parts in (2, 3, 7, 40, 200):
        cuts = workers.boundaries(pairs, parts)
        assert cuts[0] == 0 and cuts[-1] == len(pairs) and cuts == sorted(cuts) and len(cuts) == parts + 1
        for cut in cuts[1:-1]:
            assert cut in (0, len(pairs)) or pairs[cut].sample != pairs[cut - 1].sample


def test_only_long_diffs_of_runs_without_payloads_fork(recorded, monkeypatch):
    stats = (_open(recorded["ref"]), _open(recorded["port"]))
    pairs = [None] * 10000
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(6)))
    assert workers.processes_wanted(None, pairs, stats) == 5  # 10,000 pairs, 2,000 each at least
    assert workers.processes_wanted(None, pairs * 10, stats) == 6  # one per core
    assert workers.processes_wanted(3, pairs * 10, stats) == 3
    assert workers.processes_wanted(1, pairs * 10, stats) == 1
    assert workers.processes_wanted(None, pairs[:3999], stats) == 1
    with_payloads = (_open(recorded["ref"]), _open(recorded["full"]))
    assert workers.processes_wanted(None, pairs * 10, with_payloads) == 1
    assert workers.processes_wanted(None, pairs * 10, (recorded["ref"], recorded["port"])) == 1  # not opened


def test_fail_fast_judges_in_one_process(recorded, small_ranges):
    result = bmtrace.diff(recorded["ref"], recorded["port"], jobs=3, fail_fast=True, allow_missing=True)
    assert small_ranges == [] and result.stopped_early


def test_a_forked_child_reads_its_own_journal_files(recorded):
    """The parent's open journal files are shared with a fork, read offsets included: a child that read
    through them would move the parent's offset between its seek and its read."""
    run = _open(recorded["port"])
    calls = run.calls()
    calls[0].outputs[0].sketch  # the parent opens the journal
    (f,) = run._files.values()
    before = os.lseek(f.fileno(), 0, os.SEEK_CUR)
    pid = os.fork()
    if pid == 0:
        try:
            run.after_fork()
            for call in calls[len(calls) // 2:]:
                for tensor in call.outputs:
                    tensor.sketch
        finally:
            os._exit(0)
    os.waitpid(pid, 0)
    assert os.lseek(f.fileno(), 0, os.SEEK_CUR) == before


def test_jobs_must_be_a_whole_number_of_processes(recorded):
    for wrong in (0, -2, 2.5, "3", True, False):
        with pytest.raises(UsageError, match="jobs must be"):
            bmtrace.diff(recorded["ref"], recorded["port"], jobs=wrong, allow_missing=True)


def test_the_command_line_tells_a_wrong_jobs_in_its_own_words(recorded, capsys):
    """`-j 0` is told as the option it is, not as the API's argument (which takes None)."""
    from bmtrace.cli import main

    assert main(["diff", recorded["ref"], recorded["port"], "--allow-missing", "-j", "0"]) == 2
    err = capsys.readouterr().err
    assert "-j/--jobs must be 1 or more" in err and "None" not in err


def test_no_fork_while_another_thread_runs_or_sigchld_is_handled(recorded, monkeypatch):
    """A lock another thread holds at the fork stays held in the child (an import's: the child hung);
    a program's SIGCHLD handler would reap the diff's children."""
    import signal
    import threading

    runs = (_open(recorded["ref"]), _open(recorded["port"]))
    pairs = [None] * 10000
    assert workers.processes_wanted(2, pairs, runs) == 2
    stop = threading.Event()
    thread = threading.Thread(target=stop.wait)
    thread.start()
    try:
        assert workers.processes_wanted(2, pairs, runs) == 1
    finally:
        stop.set()
        thread.join()
    assert workers.processes_wanted(2, pairs, runs) == 2
    previous = signal.signal(signal.SIGCHLD, lambda *args: None)
    try:
        assert workers.processes_wanted(2, pairs, runs) == 1
    finally:
        signal.signal(signal.SIGCHLD, previous)


def test_no_fork_while_sigchld_is_ignored_or_caught_below_python(recorded, monkeypatch):
    """A C library's signal(SIGCHLD, SIG_IGN) has the kernel reap the children, and its handler would
    reap them itself: their work was thrown away. The signal module says SIG_DFL all the same."""
    import ctypes
    import signal

    libc = ctypes.CDLL(None)
    libc.signal.restype = ctypes.c_void_p
    libc.signal.argtypes = (ctypes.c_int, ctypes.c_void_p)
    harmless = ctypes.cast(libc.getpid, ctypes.c_void_p).value  # a C function as the handler
    runs = (_open(recorded["ref"]), _open(recorded["port"]))
    pairs = [None] * 10000
    assert workers.processes_wanted(2, pairs, runs) == 2
    for handler in (1, harmless):  # 1: SIG_IGN
        previous = libc.signal(signal.SIGCHLD, handler)
        try:
            assert signal.getsignal(signal.SIGCHLD) == signal.SIG_DFL
            assert workers.processes_wanted(2, pairs, runs) == 1
            monkeypatch.setattr(workers, "_STATUS", "/nonexistent/status")  # no /proc: nothing known
            assert workers.processes_wanted(2, pairs, runs) == 2
            monkeypatch.undo()
        finally:
            libc.signal(signal.SIGCHLD, previous)
    assert workers.processes_wanted(2, pairs, runs) == 2


def test_a_child_runs_none_of_the_programs_signal_handlers(recorded, small_ranges, monkeypatch, tmp_path):
    import signal

    seen = tmp_path / "seen"
    original = workers._judge_range

    def noting(*args):
        seen.write_text(repr(signal.getsignal(signal.SIGTERM)))
        return original(*args)

    monkeypatch.setattr(workers, "_judge_range", noting)
    previous = signal.signal(signal.SIGTERM, lambda *args: None)  # the program's graceful shutdown
    try:
        bmtrace.diff(recorded["ref"], recorded["port"], jobs=2, allow_missing=True)
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert seen.read_text() == repr(signal.SIG_DFL)
    assert len(small_ranges) == 1 and small_ranges[0]  # the child judged its range after all


def test_a_child_that_stops_writing_is_stopped(recorded, small_ranges, monkeypatch):
    import time

    monkeypatch.setattr(workers, "STALL_SECONDS", 0.5)
    monkeypatch.setattr(workers, "_judge_range", lambda *args: time.sleep(600))
    alone = bmtrace.diff(recorded["ref"], recorded["port"], jobs=1, allow_missing=True)
    started = time.monotonic()
    split = bmtrace.diff(recorded["ref"], recorded["port"], jobs=2, allow_missing=True)
    assert time.monotonic() - started < 60 and small_ranges == []
    assert _document(split) == _document(alone)


def test_a_child_judging_slow_pairs_is_not_stopped(recorded, small_ranges, monkeypatch):
    """The watchdog stops a child that writes nothing for a while: one whose pairs are slow writes what
    it has judged meanwhile, however little, and is left to judge its range to the end."""
    import time

    monkeypatch.setattr(workers, "BATCH", 10 ** 6)  # no batch is ever full
    monkeypatch.setattr(workers, "STALL_SECONDS", 1)
    monkeypatch.setattr(workers, "FLUSH_SECONDS", 0.05)
    original = workers._judge_range

    def slowly(pairs, first, end, judge, notes, f, parent):
        def slow(pair, cache):
            time.sleep(0.02)  # a range of 123 pairs: 2.5 s, longer than the watchdog waits
            return judge(pair, cache)

        return original(pairs, first, end, slow, notes, f, parent)

    monkeypatch.setattr(workers, "_judge_range", slowly)
    alone = bmtrace.diff(recorded["ref"], recorded["port"], jobs=1, allow_missing=True)
    split = bmtrace.diff(recorded["ref"], recorded["port"], jobs=2, allow_missing=True)
    assert len(small_ranges) == 1 and small_ranges[0]  # read back from the child, not judged again here
    assert _document(split) == _document(alone)


def test_a_child_dies_with_its_parent(recorded, tmp_path):
    """A diff killed (SIGKILL, an OOM kill) leaves no child judging on."""
    import signal
    import subprocess
    import sys
    import time

    pid_file = tmp_path / "child"
    script = (
        "import os, sys, time\n"
        "import bmtrace\n"
        "from bmtrace.diff import workers\n"
        "workers.MIN_PAIRS = 5\n"
        "def hold(*args):\n"
        "    open(sys.argv[3], 'w').write(str(os.getpid()))\n"
        "    time.sleep(600)\n"
        "workers._judge_range = hold\n"
        "bmtrace.diff(sys.argv[1], sys.argv[2], jobs=2, allow_missing=True)\n")
    program = subprocess.Popen([sys.executable, "-c", script, recorded["ref"], recorded["port"], str(pid_file)])
    try:
        deadline = time.monotonic() + 60
        while not (pid_file.exists() and pid_file.read_text()) and time.monotonic() < deadline:
            time.sleep(0.05)
        child = int(pid_file.read_text())
        program.send_signal(signal.SIGKILL)
        program.wait()
        deadline = time.monotonic() + 10
        while _alive(child) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not _alive(child)
    finally:
        program.kill()


def _alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().split(") ")[-1][0] != "Z"  # a zombie (until init reaps it) runs no more
    except OSError:
        return False


def test_an_interrupt_between_two_forks_leaves_no_child(recorded, small_ranges, monkeypatch):
    forked = []
    original = workers._fork

    def fork_then_interrupt(*args):
        if forked:
            raise KeyboardInterrupt
        child = original(*args)
        forked.append(child[0])
        return child

    monkeypatch.setattr(workers, "_fork", fork_then_interrupt)
    with pytest.raises(KeyboardInterrupt):
        bmtrace.diff(recorded["ref"], recorded["port"], jobs=3, allow_missing=True)
    with pytest.raises(ChildProcessError):  # killed and reaped: neither running nor a zombie
        os.waitpid(forked[0], os.WNOHANG)


def test_a_ctrl_c_as_a_fork_returns_leaves_no_child(recorded):
    """A SIGINT sent to the diff as os.fork returns in it, before the child's pid is recorded: the pid
    is recorded all the same, and the child stopped and reaped. (In a process of its own: an at-fork
    hook, sending the signal from C, stays for good.)"""
    import subprocess
    import sys

    script = (
        "import ctypes, functools, os, signal, sys\n"
        "import bmtrace\n"
        "from bmtrace.diff import workers\n"
        "workers.MIN_PAIRS = 5\n"
        "kill = ctypes.CDLL(None).kill\n"
        "os.register_at_fork(after_in_parent=functools.partial(kill, os.getpid(), signal.SIGINT))\n"
        "try:\n"
        "    bmtrace.diff(sys.argv[1], sys.argv[2], jobs=3, allow_missing=True)\n"
        "    sys.exit('not interrupted')\n"
        "except KeyboardInterrupt:\n"
        "    pass\n"
        "try:\n"
        "    os.waitpid(-1, os.WNOHANG)\n"
        "    sys.exit('a child left behind')\n"
        "except ChildProcessError:  # none, neither running nor a zombie\n"
        "    pass\n")
    done = subprocess.run([sys.executable, "-c", script, recorded["ref"], recorded["port"]],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr


def test_a_child_takes_the_programs_signal_mask(recorded, small_ranges, monkeypatch, tmp_path):
    """Every signal is blocked around a fork; the child takes the mask the program had (its handlers
    reset first), and so does the parent after."""
    import signal

    seen = tmp_path / "seen"
    original = workers._judge_range

    def noting(*args):
        seen.write_text(repr(sorted(signal.pthread_sigmask(signal.SIG_BLOCK, ()))))
        return original(*args)

    monkeypatch.setattr(workers, "_judge_range", noting)
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGUSR1})  # the program's own choice
    try:
        bmtrace.diff(recorded["ref"], recorded["port"], jobs=2, allow_missing=True)
        assert signal.pthread_sigmask(signal.SIG_BLOCK, ()) == {signal.SIGUSR1}
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)
    assert seen.read_text() == repr([signal.SIGUSR1])
    assert len(small_ranges) == 1 and small_ranges[0]


class _Mine(TensorComparison):
    __slots__ = ("extra_field",)


def test_results_pickle_and_copy_whole(recorded):
    """Results pickle by pickle's own way (the children's faster one is theirs alone): a user's subclass
    keeps its class and slots, and copies stay shallow."""
    import copy
    import pickle

    entries = bmtrace.diff(recorded["ref"], recorded["port"], jobs=1, allow_missing=True).stages
    back = pickle.loads(pickle.dumps(entries, pickle.HIGHEST_PROTOCOL))
    assert [e.to_json() for e in back] == [e.to_json() for e in entries]
    assert copy.copy(entries[3]).tensors is entries[3].tensors
    mine = _Mine("out", entries[0].status, role="output")
    mine.extra_field = 7
    for again in (pickle.loads(pickle.dumps(mine)), copy.deepcopy(mine)):
        assert type(again) is _Mine and again.extra_field == 7 and again.to_json() == mine.to_json()


def test_a_forked_child_takes_a_sketch_lock_another_thread_held():
    from bmtrace.codecs import sketch

    with sketch._cache_lock:  # as a thread of the program sketching at the moment of the fork
        pid = os.fork()
        if pid == 0:
            os._exit(0 if sketch._cache_lock.acquire(timeout=10) else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
