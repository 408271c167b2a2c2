"""Payload paths stay inside the run; damaged payloads are reported as such, with their path."""
import json
import os

import numpy as np
import pytest

import bmtrace
from bmtrace.errors import PayloadCorruptError, PayloadMissingError, PayloadPathError

from payload_files import damage

from .conftest import journal_records, write_journal


def _set_payload(run_path, payload):
    records = journal_records(run_path)
    records[0]["outputs"][0]["payload"] = payload
    write_journal(run_path, [json.dumps(r).encode() for r in records])
    return bmtrace.open_run(run_path).calls()[0].output()


@pytest.mark.parametrize("payload, says", [
    ("/etc/passwd", "absolute path"),
    ("../outside.npy", "climbs out"),
    ("payloads/../../outside.npy", "climbs out"),
    ("payloads\\..\\..\\outside.npy", "climbs out"),
])
def test_payload_outside_the_run_is_refused(small_run, payload, says):
    """Absolute and '..' payload paths are refused naming the run, the tensor and the path."""
    np.save(small_run.parent / "outside.npy", np.arange(6, dtype=np.float32) * 2)
    tensor = _set_payload(small_run, payload)
    with pytest.raises(PayloadPathError, match=says) as info:
        tensor.load()
    message = str(info.value)
    assert str(small_run) in message and "'out'" in message and "'double'" in message and repr(payload) in message


def test_symlink_escaping_the_run_is_refused(small_run):
    """A payload reached through a symlink pointing outside the run is refused."""
    np.save(small_run.parent / "outside.npy", np.arange(6, dtype=np.float32) * 2)
    os.symlink(small_run.parent, small_run / "payloads" / "escape")
    tensor = _set_payload(small_run, "payloads/escape/outside.npy")
    with pytest.raises(PayloadPathError, match="symlink"):
        tensor.load()


def test_symlink_inside_the_run_is_followed(small_run):
    """A symlink that stays inside the run directory is allowed."""
    original = bmtrace.open_run(small_run).calls()[0].output()
    os.symlink(os.path.dirname(original.payload_file), small_run / "payloads" / "alias")
    tensor = _set_payload(small_run, "payloads/alias/" + os.path.basename(original.payload))
    assert tensor.load().tolist() == original.load().tolist()


def test_flipped_byte_is_detected(small_run):
    """A payload with one flipped data byte raises PayloadCorruptError naming the file."""
    tensor = bmtrace.open_run(small_run).calls()[1].output()
    damage(tensor, "flipped")
    with pytest.raises(PayloadCorruptError, match="does not match its recorded content hash") as info:
        tensor.load()
    assert tensor.payload_file in str(info.value)
    assert tensor.load(verify=False).shape == (6,)  # the caller may still look at the damaged values


def test_truncated_payload_is_corrupt(small_run):
    """A payload cut short raises PayloadCorruptError, not a numpy ValueError."""
    tensor = bmtrace.open_run(small_run).calls()[0].output()
    damage(tensor, "truncated")
    with pytest.raises(PayloadCorruptError, match="cannot be read"):
        tensor.load()


def test_pickled_payload_is_refused(small_run):
    """A payload replaced by a pickled object array is refused without unpickling."""
    tensor = bmtrace.open_run(small_run).calls()[0].output()
    damage(tensor, "pickled")
    with pytest.raises(PayloadCorruptError, match="cannot be read"):
        tensor.load()


def test_deleted_payload_is_missing(small_run):
    """A deleted payload raises PayloadMissingError naming the file."""
    tensor = bmtrace.open_run(small_run).calls()[0].output()
    os.unlink(tensor.payload_file)
    with pytest.raises(PayloadMissingError, match="missing") as info:
        tensor.load()
    assert tensor.payload_file in str(info.value)


def test_payload_that_is_a_directory_is_corrupt(small_run):
    """A payload path that is a directory is reported as unreadable."""
    tensor = bmtrace.open_run(small_run).calls()[0].output()
    os.unlink(tensor.payload_file)
    os.mkdir(tensor.payload_file)
    with pytest.raises(PayloadCorruptError, match="cannot be read"):
        tensor.load()


@pytest.mark.parametrize("arr", [
    np.asfortranarray(np.arange(12, dtype=np.float64).reshape(3, 4)),
    np.arange(40, dtype=np.int16).reshape(5, 8)[::2, 1::3],  # a strided view
    np.array([1, 2, 3], dtype=">i4"),
    np.array([True, False]),
    np.array([1 + 2j, 3 - 1j], dtype=np.complex64),
    np.arange(5, dtype=np.float16),
    np.array(["2024-01-01", "2025-06-30"], dtype="datetime64[ns]"),
    np.zeros(3, dtype=[("x", np.uint8), ("y", np.float64)]),
    np.zeros((0, 4), np.float32),
    np.full((2000, 700), 7, np.uint8),  # above the parallel-write threshold
], ids=lambda a: "%s%s" % (a.dtype.str, a.shape))
def test_recorded_payloads_verify_on_load(tmp_path, arr):
    """Every kind of array the store writes loads back equal and matching its recorded hash."""
    with bmtrace.run(tmp_path / "run"):
        with bmtrace.trace_stage("keep") as st:
            st.output(arr)
    tensor = bmtrace.open_run(tmp_path / "run").calls()[0].output()
    loaded = tensor.load(verify=True)
    assert loaded.dtype == arr.dtype and loaded.shape == arr.shape and np.array_equal(loaded, arr)
