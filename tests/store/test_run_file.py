"""run.json is untrusted: every malformed variant is refused with an error naming the file."""
import json

import pytest

import bmtrace
from bmtrace.errors import CorruptRunError, FormatVersionError, RunNotFoundError


@pytest.mark.parametrize("content", [
    b"", b"   \n", b"\x00\xffgarbage", b"{not json", b"[]", b"[1, 2]", b"42", b'"run"', b"null",
    b'{"side": "a"}', b'{"format_version": "1"}', b'{"format_version": true}', b'{"format_version": 0}',
    b'{"format_version": 1, "side": ["x"]}', b'{"format_version": 1, "mode": "fast"}',
    b'{"format_version": 1, "ended": "yesterday"}', b'{"format_version": 1, "stage_modes": ["full"]}',
    b'{"format_version": 1, "payload_cap_bytes": "big"}', b'{"format_version": 1, "hash_alg": 5}',
])
def test_bad_run_file_is_a_clear_error(small_run, content):
    """A damaged run.json raises CorruptRunError naming run.json and how to fix it."""
    (small_run / "run.json").write_bytes(content)
    with pytest.raises(CorruptRunError, match=r"run\.json is not a valid bmtrace run file.*re-record"):
        bmtrace.open_run(small_run)


def test_corrupt_run_is_also_a_run_not_found_error(small_run):
    """Callers that catch RunNotFoundError also catch a damaged run.json."""
    (small_run / "run.json").write_text("[]")
    with pytest.raises(RunNotFoundError):
        bmtrace.open_run(small_run)


def test_run_file_that_is_a_directory_is_not_a_run(small_run):
    """run.json being a directory says so instead of raising IsADirectoryError."""
    (small_run / "run.json").unlink()
    (small_run / "run.json").mkdir()
    with pytest.raises(RunNotFoundError, match="not a file"):
        bmtrace.open_run(small_run)


def test_run_file_from_an_older_bmtrace_still_opens(small_run):
    """A run.json without the fields added later (hash_alg) opens and reads as SHA-1 hashed."""
    doc = json.loads((small_run / "run.json").read_text())
    del doc["hash_alg"]
    (small_run / "run.json").write_text(json.dumps(doc))
    run = bmtrace.open_run(small_run)
    assert run.hash_alg == "sha1" and len(run.calls()) == 3


def test_numeric_side_is_read_as_text(small_run):
    """A side given as a number (start(side=2)) reads back as the string "2"."""
    doc = json.loads((small_run / "run.json").read_text())
    doc["side"] = 2
    (small_run / "run.json").write_text(json.dumps(doc))
    assert bmtrace.open_run(small_run).side == "2"


def test_appending_to_a_newer_run_is_refused(small_run):
    """append=True to a run of a newer format version raises FormatVersionError before writing."""
    doc = json.loads((small_run / "run.json").read_text())
    doc["format_version"] = 99
    (small_run / "run.json").write_text(json.dumps(doc))
    with pytest.raises(FormatVersionError, match="upgrade"):
        bmtrace.start(small_run, append=True)
    assert bmtrace.stop() is None


def test_create_run_on_unwritable_path_is_a_store_error(tmp_path):
    """create_run (`bmtrace record --out`) on an unwritable path raises StoreError naming it."""
    from bmtrace.api import create_run
    from bmtrace.errors import StoreError

    (tmp_path / "file").write_text("x")
    with pytest.raises(StoreError, match="cannot create run directory .*file/run"):
        create_run(tmp_path / "file" / "run")


def test_damaged_process_files_do_not_break_meta(small_run):
    """procs/*.json with wrong types or garbage leave meta readable, the bad values dropped."""
    (proc,) = (small_run / "procs").glob("*.json")
    doc = json.loads(proc.read_text())
    doc.update(argv="not-a-list", versions=[1], host=5, opened="soon")
    proc.write_text(json.dumps(doc))
    (small_run / "procs" / "junk.json").write_text("[1, 2]")
    (small_run / "procs" / "torn.json").write_text('{"host": "x"')
    meta = bmtrace.open_run(small_run).meta
    assert meta["argv"] is None and meta["host"] is None and meta["versions"] == {}
    assert meta["python"] and len(meta["processes"]) == 1
