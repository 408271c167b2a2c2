"""Python's cyclic garbage collector during a diff.

A diff keeps every entry it makes, and a run read without its index (``bmtrace.open_run`` objects
passed to ``bmtrace.diff``) holds every parsed record: long-lived objects that, at the collector's
default pace, are walked again and again, by every full collection above all. The diff itself makes
next to no cyclic garbage (317 objects over 10k samples, all from imports). So while diffs run:
- the youngest generation is collected after 50,000 new objects instead of 700, and what survives a
  collection is frozen (``gc.freeze``): no young collection walks it again;
- frozen objects are still freed when no longer referenced. Cyclic garbage among them (what the
  program left before the diff, another thread's) waits for a full collection, made between two
  pairs once the objects frozen since the last one (or since the start) outnumber twice those it left
  alive, and two million: at most that much garbage, for a walk of the heap each time it triples
  (garbage a stage's replay makes after the pairs, ``isolate``, waits for the end). The last diff to
  end unfreezes everything, to Python's own pace; a diff too short to freeze two million objects makes
  no full collection.
The first diff to start sets this up and the last to end undoes it; diffs in several threads share it.
A program that freezes objects itself (a pre-forking server, say) is left alone when a diff starts:
its frozen set is not the diff's to undo (one frozen while a diff runs is unfrozen with the diff's).
A process forked meanwhile (a worker of the program's) starts without any of it.

Time in collections, two 100k-sample stats-mode runs diffed in one process (``jobs=1``), at Python's
pace -> with this: runs read through their index 3.3 -> 1.5 s; runs passed as ``open_run`` objects
15 -> 8.5 s.
"""
from __future__ import annotations

import contextlib
import gc
import os
import threading

YOUNGEST_THRESHOLD = 50000
_MIN_FULL = 1000000  # survivors frozen before the first full collection


class _State:
    def __init__(self):
        self.lock = threading.RLock()  # (a finalizer run by a collection made under it may start a diff)
        self.running = 0          # diffs running, in any thread
        self.threshold = None     # the program's, while diffs run
        self.freezing = False
        self.frozen_since_full = 0   # survivors frozen since the last full collection (about)
        self.live_at_full = _MIN_FULL  # objects the last full collection left (at least _MIN_FULL)
        self.young = 0               # objects in the youngest generation as a collection starts


_state = _State()


def _forked_child():
    """A process forked while a diff runs (in another thread) runs no diff: collection as usual. (A
    diff the child carries on from its parent's thread leaves its parent's state, not the new one.)"""
    global _state
    if _state.freezing:
        _remove_callback()
        gc.unfreeze()
    if _state.threshold is not None:
        gc.set_threshold(*_state.threshold)
    _state = _State()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forked_child)


def _freeze_survivors(phase, info):
    state = _state
    if phase == "start":
        state.young = gc.get_count()[0]
    else:
        gc.freeze()
        # at most that many survived (the older generations hold nothing: everything before is frozen)
        state.frozen_since_full += state.young


def _remove_callback():
    while _freeze_survivors in gc.callbacks:
        gc.callbacks.remove(_freeze_survivors)


@contextlib.contextmanager
def long_lived_entries():
    """Around a diff: rarer collections, and their survivors kept out of the next ones (see the module)."""
    state = None
    try:
        state = _enter()
        yield
    finally:
        if state is not None:
            _leave(state)


def _enter():
    """Count a diff in; the first sets collection up. Returns the state it counted in."""
    state = _state
    with state.lock:
        if not state.running:
            try:
                _undo(state)  # what an interrupted _leave left
                state.threshold = threshold = gc.get_threshold()
                if threshold[0]:  # 0: the program turned automatic collection off; leave it so
                    gc.set_threshold(max(threshold[0], YOUNGEST_THRESHOLD), *threshold[1:])
                # get_freeze_count() walks the frozen set: asked before anything of the diff's is frozen
                if gc.isenabled() and gc.get_freeze_count() == 0:
                    state.freezing = True
                    state.frozen_since_full, state.live_at_full = 0, _MIN_FULL
                    gc.callbacks.append(_freeze_survivors)
            except BaseException:
                _undo(state)
                raise
        state.running += 1
    return state


def _leave(state):
    if state is not _state:
        return  # counted in by the parent of this forked process: not this process's to undo
    with state.lock:
        state.running -= 1
        if not state.running:
            _undo(state)


def _undo(state):
    """Collection as the program had it (each step safe to repeat, should an interrupt cut it short)."""
    _remove_callback()
    if state.freezing:
        gc.unfreeze()
        state.freezing = False
    if state.threshold is not None:
        gc.set_threshold(*state.threshold)
        state.threshold = None


def _due(state):
    return state.freezing and state.frozen_since_full > 2 * state.live_at_full


def collect_if_due():
    """Between two pairs: the full collection that bounds the garbage kept frozen (see the module)."""
    state = _state
    if _due(state):
        with state.lock:
            if not _due(state):
                return
            gc.unfreeze()
            gc.collect()
            gc.freeze()
            state.frozen_since_full = 0
            state.live_at_full = max(_MIN_FULL, gc.get_freeze_count())
