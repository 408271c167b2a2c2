"""The cyclic collector during a diff (bmtrace.diff.collector): survivors frozen, settings restored."""
import gc
import threading

import pytest

import bmtrace
from bmtrace.diff import collector


@pytest.fixture
def two_runs(runs):
    return runs("a", samples=["s%d" % i for i in range(6)]), runs("b", samples=["s%d" % i for i in range(6)],
                                                                   resize_shift=3)


def _frozen_during(a, b, **options):
    """Freeze counts seen by the progress callback as each pair is judged."""
    seen = []
    bmtrace.diff(a, b, explain=False, progress=lambda done, total: seen.append(gc.get_freeze_count()), **options)
    return seen


def test_a_diff_keeps_its_survivors_out_of_collections_and_restores_the_process(two_runs):
    threshold = gc.get_threshold()
    assert gc.get_freeze_count() == 0
    kept, seen = [], []

    def progress(done, total):
        before = gc.get_freeze_count()
        kept.append([[done] for _ in range(100)])  # survivors of the next collection
        gc.collect(0)
        seen.append((before, gc.get_freeze_count()))

    bmtrace.diff(*two_runs, explain=False, progress=progress)
    assert seen and seen[0][0] > 0  # what existed when the diff started
    assert all(after >= before + 100 for before, after in seen)  # and what survived each collection
    assert gc.get_freeze_count() == 0 and gc.callbacks.count(collector._freeze_survivors) == 0
    assert gc.get_threshold() == threshold


def test_a_diff_that_fails_restores_the_process(two_runs):
    threshold = gc.get_threshold()

    def stop(done, total):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        bmtrace.diff(*two_runs, explain=False, progress=stop)
    assert gc.get_freeze_count() == 0
    assert gc.get_threshold() == threshold


def test_a_program_that_freezes_objects_itself_keeps_its_frozen_set(two_runs):
    gc.freeze()
    try:
        own = gc.get_freeze_count()
        seen = _frozen_during(*two_runs)
        assert set(seen) == {own}  # the diff froze nothing more
        assert gc.get_freeze_count() == own  # and unfroze nothing of the program's
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
    inner = []

    def progress(done, total):
        if done == 1:
            inner.extend(_frozen_during(a, b))
            assert gc.get_freeze_count() > 0  # the inner diff did not unfreeze the outer one's objects

    bmtrace.diff(a, b, explain=False, progress=progress)
    assert inner and gc.get_freeze_count() == 0


def test_diffs_in_two_threads_unfreeze_when_the_last_ends(two_runs):
    a, b = two_runs
    started, finish = threading.Event(), threading.Event()

    def slow(done, total):
        started.set()
        finish.wait(30)

    other = threading.Thread(target=bmtrace.diff, args=(a, b), kwargs={"explain": False, "progress": slow})
    other.start()
    try:
        assert started.wait(30)
        seen = _frozen_during(a, b)
        assert all(count > 0 for count in seen)  # this diff joined the other's freezing
        assert gc.get_freeze_count() > 0  # and ending first, left the other's objects frozen
    finally:
        finish.set()
        other.join(30)
    assert gc.get_freeze_count() == 0
