"""The cyclic collector during a diff (bmtrace.diff.collector): survivors frozen, garbage still
collected, the process's settings restored whatever happens."""
import gc
import os
import subprocess
import sys
import textwrap
import threading
import weakref

import pytest

import bmtrace
from bmtrace.diff import collector


class _Cycle:
    def __init__(self):
        self.me = self


@pytest.fixture
def two_runs(runs):
    return runs("a", samples=["s%d" % i for i in range(6)]), runs("b", samples=["s%d" % i for i in range(6)],
                                                                   resize_shift=3)


def _restored(threshold):
    return (gc.get_freeze_count() == 0 and _freezer_count() == 0 and gc.get_threshold() == threshold
            and collector._state.running == 0)


def _freezer_count():
    return gc.callbacks.count(collector._freeze_survivors)


def _frozen_during(a, b, **options):
    """Freeze counts seen by the progress callback as each pair is judged."""
    seen = []
    bmtrace.diff(a, b, explain=False, progress=lambda done, total: seen.append(gc.get_freeze_count()), **options)
    return seen


def test_a_diff_keeps_its_survivors_out_of_collections_and_restores_the_process(two_runs):
    threshold = gc.get_threshold()
    kept, seen = [], []

    def progress(done, total):
        before = gc.get_freeze_count()
        kept.append([[done] for _ in range(100)])  # survivors of the next collection
        gc.collect(0)
        seen.append((before, gc.get_freeze_count()))

    bmtrace.diff(*two_runs, explain=False, progress=progress)
    assert seen and all(after >= before + 100 for before, after in seen)
    assert _restored(threshold)


def test_garbage_left_before_a_diff_is_collected_by_its_first_full_collection(two_runs, monkeypatch):
    monkeypatch.setattr(collector, "_MIN_FULL", 0)  # a long diff: its first collection is due at once
    cycle = _Cycle()
    gone = weakref.ref(cycle)
    del cycle
    alive = []

    def progress(done, total):
        if done == 1:
            gc.collect(0)  # the diff's first young collection: it freezes what the program left too
        alive.append(gone() is not None)

    bmtrace.diff(*two_runs, explain=False, progress=progress)
    assert len(alive) > 2 and not any(alive[1:])  # collected between the first pair and the second


def test_a_short_diff_makes_no_full_collection(two_runs):
    full = []

    def count(phase, info):
        if phase == "start" and info["generation"] == 2:
            full.append(info)

    gc.callbacks.append(count)
    try:
        bmtrace.diff(*two_runs, explain=False)
    finally:
        gc.callbacks.remove(count)
    assert full == []


def test_garbage_frozen_during_a_long_diff_is_collected_before_it_ends(two_runs):
    refs, holder, alive = [], [], []

    def progress(done, total):
        holder[:] = [_Cycle()]  # the last pair's cycle becomes garbage now
        refs.append(weakref.ref(holder[0]))
        gc.collect(0)  # ... after surviving a collection: frozen
        collector._state.live_at_full = 0  # as if the frozen set had doubled since the last full collection
        if done == total:
            alive.extend(ref() is not None for ref in refs[:-2])

    bmtrace.diff(*two_runs, explain=False, progress=progress)
    assert alive and not any(alive)  # collected while the diff ran, by its full collections


def test_the_frozen_set_grows_by_what_young_collections_leave(two_runs):
    grown = []

    def progress(done, total):
        before = collector._state.frozen_since_full
        kept = [[done] for _ in range(1000)]
        young = gc.get_count()[0]
        gc.collect(0)
        grown.append((collector._state.frozen_since_full - before, young, len(kept)))

    bmtrace.diff(*two_runs, explain=False, progress=progress)
    assert grown and all(young >= kept - 100 and young <= growth <= young + 10 for growth, young, kept in grown)


def test_a_diff_that_fails_restores_the_process(two_runs):
    threshold = gc.get_threshold()

    def stop(done, total):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        bmtrace.diff(*two_runs, explain=False, progress=stop)
    assert _restored(threshold)


def _interrupt_once(monkeypatch, name):
    """``gc.<name>`` raises KeyboardInterrupt the first time it is called (a Ctrl-C there), then works."""
    real = getattr(gc, name)

    def interrupted(*args):
        monkeypatch.setattr(gc, name, real)
        raise KeyboardInterrupt

    monkeypatch.setattr(gc, name, interrupted)


def test_an_interrupt_while_restoring_is_made_good_by_the_next_diff(two_runs, monkeypatch):
    threshold = gc.get_threshold()
    _interrupt_once(monkeypatch, "unfreeze")
    with pytest.raises(KeyboardInterrupt):
        bmtrace.diff(*two_runs, explain=False)
    bmtrace.diff(*two_runs, explain=False)
    assert _restored(threshold)


def test_a_program_that_freezes_objects_itself_keeps_its_frozen_set(two_runs):
    threshold = gc.get_threshold()
    gc.freeze()
    try:
        own = gc.get_freeze_count()
        seen = _frozen_during(*two_runs)
        assert set(seen) == {own}  # the diff froze nothing more
        assert gc.get_freeze_count() == own  # and unfroze nothing of the program's
        assert gc.get_threshold() == threshold
    finally:
        gc.unfreeze()


def test_a_program_without_automatic_collection_is_left_so(two_runs):
    gc.disable()
    try:
        seen = _frozen_during(*two_runs)
        assert set(seen) == {0}
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_a_diff_inside_a_diff_leaves_the_freezing_to_the_outer_one(two_runs):
    a, b = two_runs
    threshold = gc.get_threshold()
    inner = []

    def progress(done, total):
        if done == 1:
            gc.collect(0)
            inner.extend(_frozen_during(a, b))
            assert gc.get_freeze_count() > 0 and _freezer_count() == 1  # the inner diff undid nothing

    bmtrace.diff(a, b, explain=False, progress=progress)
    assert inner and _restored(threshold)


def test_diffs_in_two_threads_share_the_setting_and_the_last_restores_it(two_runs):
    a, b = two_runs
    threshold = gc.get_threshold()
    started, finish = threading.Event(), threading.Event()

    def slow(done, total):
        started.set()
        finish.wait(30)

    other = threading.Thread(target=bmtrace.diff, args=(a, b), kwargs={"explain": False, "progress": slow})
    other.start()
    try:
        assert started.wait(30)
        bmtrace.diff(a, b, explain=False)  # starts after the other, ends before it
        assert gc.get_threshold() == (collector.YOUNGEST_THRESHOLD,) + threshold[1:]
        assert _freezer_count() == 1
    finally:
        finish.set()
        other.join(30)
    assert _restored(threshold)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_process_forked_during_a_diff_collects_as_usual(two_runs):
    threshold = gc.get_threshold()
    codes = []

    def progress(done, total):
        if done != 2:
            return
        gc.collect(0)  # something frozen
        pid = os.fork()
        if pid == 0:  # a worker of the program's, forked while the diff runs
            ok = _freezer_count() == 0 and gc.get_freeze_count() == 0 and gc.get_threshold() == threshold
            os._exit(0 if ok else 1)
        codes.append(os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]))

    bmtrace.diff(*two_runs, explain=False, progress=progress)
    assert codes == [0]


def test_a_diff_needs_no_pyarrow(tmp_path):
    """Runs recorded on a device image (numpy and wrapt only) have no index; the diff reads their
    journals and must not import pyarrow to do it."""
    script = textwrap.dedent("""
        import sys
        class NoPyarrow:
            def find_spec(self, name, path=None, target=None):
                if name == "pyarrow" or name.startswith("pyarrow."):
                    raise ModuleNotFoundError("No module named %r" % name)
        sys.meta_path.insert(0, NoPyarrow())
        import numpy as np
        import bmtrace
        for side, shift in (("a", 0), ("b", 1)):
            bmtrace.start(sys.argv[1] + "/" + side, mode="stats")
            stage = bmtrace.trace_stage("resize")(lambda x: x + shift)
            for i in range(5):
                with bmtrace.sample("s%d" % i):
                    stage(np.full((40, 40, 3), i, np.uint8))
            bmtrace.stop()
        result = bmtrace.diff(sys.argv[1] + "/a", sys.argv[1] + "/b", explain=False)
        print(result.first_divergence.stage, "pyarrow" in sys.modules)
    """)
    out = subprocess.run([sys.executable, "-c", script, str(tmp_path)], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == ["resize", "False"]


def test_an_interrupt_while_setting_up_leaves_nothing_behind(two_runs, monkeypatch):
    threshold = gc.get_threshold()
    _interrupt_once(monkeypatch, "get_freeze_count")
    with pytest.raises(KeyboardInterrupt):
        bmtrace.diff(*two_runs, explain=False)
    assert _restored(threshold)
    assert len(_frozen_during(*two_runs)) > 0 and _restored(threshold)


def test_a_diff_counted_in_before_a_fork_is_not_counted_out_of_the_child():
    threshold = gc.get_threshold()
    parent = collector._enter()
    collector._forked_child()  # as os.fork runs it in the child
    try:
        collector._leave(parent)  # the diff the child carried on ends there
        assert collector._state is not parent and collector._state.running == 0
        assert _restored(threshold)
    finally:
        parent.running = 0


def test_the_first_diff_ending_before_a_later_one_leaves_the_setting_to_it(two_runs):
    a, b = two_runs
    threshold = gc.get_threshold()
    started, finish = threading.Event(), threading.Event()

    def first_waits(done, total):
        started.set()
        finish.wait(30)

    first = threading.Thread(target=bmtrace.diff, args=(a, b), kwargs={"explain": False, "progress": first_waits})
    first.start()
    assert started.wait(30)

    def let_the_first_end(done, total):
        if done == 1:
            finish.set()
            first.join(30)
            assert _freezer_count() == 1 and gc.get_threshold()[0] == collector.YOUNGEST_THRESHOLD  # still on

    try:
        bmtrace.diff(a, b, explain=False, progress=let_the_first_end)
    finally:
        finish.set()
        first.join(30)
    assert _restored(threshold)
