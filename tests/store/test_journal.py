"""Journal lines are untrusted: bad lines are skipped and reported with file and line number."""
import json
import os

import numpy as np
import pytest

import bmtrace

from .conftest import double, journal_of, journal_records, write_journal


def _lines(run_path):
    return journal_of(run_path).read_bytes().splitlines()


def _with_bad_middle_line(run_path, bad):
    lines = _lines(run_path)
    write_journal(run_path, [lines[0], bad, lines[1], lines[2]])


@pytest.mark.parametrize("bad, says", [
    (b"{}", "no 'id' field"),
    (b"[1,2]", "must be a JSON object"),
    (b"garbage", "not valid JSON"),
    (b"", "not valid JSON"),
    (b'{"id": "x", "stage": "s", "t_start": 1, "inputs": "notalist"}', "'inputs' must be a list"),
    (b'{"id": "x", "stage": 3, "t_start": 1}', "'stage' must be a string"),
    (b'{"id": "x", "stage": "s", "t_start": "noon"}', "'t_start' must be a number"),
    (b'{"id": "x", "stage": "s", "t_start": 1, "mode": "fast"}', "'mode' must be one of"),
    (b'{"id": "x", "stage": "s", "t_start": 1, "error": {"type": 1}}', "'error.type' must be a string"),
    (b'{"id": "x", "stage": "s", "t_start": 1, "outputs": [{"name": "o", "shape": [-1]}]}',
     "'outputs\\[0\\].shape' must be a list of non-negative integers"),
    (b'{"id": "x", "stage": "s", "t_start": 1, "outputs": [{"name": "o", "nan_count": "many"}]}',
     "'outputs\\[0\\].nan_count'"),
    (b'{"id": "x", "stage": "s", "t_start": 1, "outputs": [7]}', "outputs\\[0\\] must be a JSON object"),
    (b'{"id": "x", "stage": "s", "t_start": 1, "outputs": [{"name": "o", "payload": 5}]}',
     "'outputs\\[0\\].payload' must be a string"),
])
def test_bad_middle_line_is_skipped_and_reported_with_its_line(small_run, bad, says):
    """A bad line between good ones is skipped; Run.problems names the journal, line 2 and the fault."""
    _with_bad_middle_line(small_run, bad)
    run = bmtrace.open_run(small_run)
    assert [c.sample for c in run.calls()] == ["s0", "s1", "s2"]
    (problem,) = run.problems
    assert problem.line == 2 and problem.file == os.path.join("journal", journal_of(small_run).name)
    assert "line 2" in str(problem)
    assert pytest.importorskip("re").search(says, str(problem)), str(problem)
    assert run.torn_lines == 0


def test_torn_last_line_is_counted_apart_from_bad_lines(small_run):
    """Only a last line without its newline is a torn write; a bad middle line is a problem."""
    _with_bad_middle_line(small_run, b"[1,2]")
    with open(journal_of(small_run), "ab") as f:
        f.write(b'{"id": "x", "stage": "dou')
    run = bmtrace.open_run(small_run)
    assert run.torn_lines == 1 and len(run.problems) == 1 and run.skipped_lines == 2
    assert len(run.calls()) == 3


def test_journal_that_is_a_directory_is_reported(small_run):
    """A journal path that is a directory is listed as a problem; the other journals still read."""
    (small_run / "journal" / "odd.jsonl").mkdir()
    run = bmtrace.open_run(small_run)
    assert len(run.calls()) == 3
    (problem,) = run.problems
    assert problem.file == os.path.join("journal", "odd.jsonl") and "cannot read" in problem.message


def test_valid_records_round_trip_every_field(small_run):
    """The reader exposes every recorded field of calls and tensors with its type."""
    record = journal_records(small_run)[0]
    call = bmtrace.open_run(small_run).calls()[0]
    assert (call.id, call.stage, call.sample, call.seq, call.writer) == (
        record["id"], "double", "s0", record["seq"], record["writer"])
    out = call.output()
    assert out.shape == (6,) and out.dtype == "float32" and out.is_array and out.role == "output"
    assert out.hash == record["outputs"][0]["hash"] and out.max == 10.0 and out.load().tolist() == [
        0.0, 2.0, 4.0, 6.0, 8.0, 10.0]


def test_lone_surrogates_in_sample_and_stage_names(tmp_path):
    """Undecodable file names as sample keys and stage names read back and index without temp files."""
    name = os.fsdecode(b"img-\xff\xfe.jpg")  # lone surrogates, as os.listdir gives for non-UTF-8 names
    stage = os.fsdecode(b"st\xe9ge")
    with bmtrace.run(tmp_path / "run"):
        with bmtrace.sample(name):
            with bmtrace.trace_stage(stage) as st:
                st.output(np.arange(3))
            double(np.arange(3))
    run = bmtrace.open_run(tmp_path / "run")
    assert run.samples() == [name] and run.stages() == [stage, "double"]
    assert (tmp_path / "run" / "index.parquet").exists()
    table = run.index()
    assert "\\udcff" in table.column("sample")[0].as_py()
    assert not [p for p in (tmp_path / "run").rglob("*") if ".tmp" in p.name]


def test_journal_lines_are_ascii_json(small_run):
    """The writer's lines decode as ASCII JSON objects (text survives as escapes)."""
    for line in _lines(small_run):
        assert isinstance(json.loads(line.decode("ascii")), dict)


def test_show_lists_bad_lines_apart_from_torn_records(small_run):
    """`bmtrace show` lists a bad middle line with its line number and does not call it torn."""
    from bmtrace.commands.show import render, summarize

    _with_bad_middle_line(small_run, b"{}")
    summary = summarize(bmtrace.open_run(small_run))
    assert summary["torn_records_skipped"] == 0 and len(summary["problems"]) == 1
    assert "line 2" in render(summary) and "torn" not in render(summary)
