"""Sample keys without edits, decorated stages mixed with auto stages, and the never-break policy."""
import sys

import cv2
import numpy as np
import pytest

import bmtrace
from bmtrace.auto import record as auto_record

from .conftest import basename, ops


def test_a_decode_starts_a_sample_that_lasts_until_the_next(record, images):
    """Calls after imread(file) belong to that file's sample until the next imread."""
    def program():
        for path in images:
            img = cv2.imread(path)
            cv2.resize(img, (8, 8))

    run = record(program)
    assert [(c.sample, c.stage) for c in run.calls()] == [
        (basename(images[0]), "decode"), (basename(images[0]), "resize"),
        (basename(images[1]), "decode"), (basename(images[1]), "resize")]


def test_the_programs_sample_wins_over_the_decoded_file(record, images):
    """Inside bmtrace.sample(key), a decode does not change the sample."""
    def program():
        with bmtrace.sample("mine"):
            cv2.imread(images[0])
            cv2.imread(images[1])

    assert [c.sample for c in record(program).calls()] == ["mine", "mine"]


def test_frame_policy_counts_every_decode(record, images):
    """--sample-from frame names samples frame0, frame1, ... whatever the files are called."""
    run = record(lambda: [cv2.imread(p) for p in images], sample_from="frame")
    assert run.samples() == ["frame0", "frame1"]


def test_argv_policy_uses_the_programs_argument(record, images, monkeypatch):
    """--sample-from argv1 puts every call in the sample named by sys.argv[1]'s base name."""
    monkeypatch.setattr(sys, "argv", ["prog.py", "/data/photo.jpg"])
    run = record(lambda: [cv2.imread(p) for p in images], sample_from="argv1")
    assert run.samples() == ["photo.jpg"]


def test_bad_sample_policy_is_refused():
    """An unknown --sample-from value is a usage error naming the accepted ones."""
    with pytest.raises(bmtrace.BmtraceError, match="decode, frame or argvN"):
        bmtrace.auto(sample_from="filename")


def test_auto_calls_nest_under_a_decorated_stage(record, images):
    """A decorated stage and the auto calls inside it are both recorded, the auto ones as its children."""
    @bmtrace.trace_stage("preprocess")
    def preprocess(path):
        return cv2.resize(cv2.imread(path), (8, 8))

    run = record(lambda: preprocess(images[0]))
    parent = run.calls(stage="preprocess")[0]
    assert [c.stage for c in run.calls() if c.parent == parent.id] == ["decode", "resize"]


def test_inside_a_decorated_kind_stage_only_that_kind_records(record):
    """In @trace_stage("infer"), a resize call is an implementation detail and records nothing."""
    @bmtrace.trace_stage("infer")
    def infer(x):
        return cv2.resize(x, (4, 4)).mean()

    run = record(lambda: infer(np.zeros((8, 8), np.float32)))
    assert [c.stage for c in run.calls()] == ["infer"]


def test_a_failing_recorder_never_changes_the_result(record, images, monkeypatch, capfd):
    """When recording a call fails, the call returns exactly what it returns unpatched, and the program goes on."""
    src = cv2.imread(images[0])
    expected = cv2.resize(src, (9, 7))

    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(auto_record, "_identity", broken)
    results = []
    run = record(lambda: results.append(cv2.resize(src, (9, 7))))
    np.testing.assert_array_equal(results[0], expected)
    assert ops(run) == []
    assert "boom" in capfd.readouterr().err


def test_the_library_error_is_raised_unchanged_and_recorded(record):
    """A library call that raises raises the same exception; the record keeps the error."""
    def program():
        with pytest.raises(cv2.error):
            cv2.resize(np.zeros((0, 0), np.uint8), (4, 4))

    call = record(program).calls(stage="resize")[0]
    assert call.error and "error" in call.error["type"]


def test_threads_keep_their_own_decoded_sample(record, images):
    """Worker threads each decoding a file record their later calls under their own file's sample."""
    from concurrent.futures import ThreadPoolExecutor

    def work(path):
        img = cv2.imread(path)
        return cv2.resize(img, (8, 8))

    def program():
        with ThreadPoolExecutor(2) as pool:
            list(pool.map(work, images * 3))

    run = record(program)
    for call in run.calls(stage="resize"):
        parent_decode = [c for c in run.calls(stage="decode") if c.thread == call.thread and c.t_start <= call.t_start]
        assert call.sample == max(parent_decode, key=lambda c: c.t_start).sample
    assert sorted(run.samples()) == sorted(basename(p) for p in images)
