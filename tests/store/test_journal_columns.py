"""The index built straight from the journals equals the one built from Run's parsed calls."""
import json
import os

import numpy as np
import pytest

import bmtrace
from bmtrace.store import journal_columns, schema
from bmtrace.store.reader import Run


@bmtrace.trace_stage("mixed")
def mixed(x, k, scale, label, nothing=None):
    return {"boxes": [x, x + 1], "score": scale, "label": label, "pair": (k, "tag"), "raw": b"\x00\x01"}


@bmtrace.trace_stage("fails")
def fails(x):
    raise ValueError("bad input %d" % int(x.sum()))


@bmtrace.trace_stage("plain", meta={"kind": "classification"})
def plain(x):
    return x * 2


def _record(path, mode, append=False):
    with bmtrace.run(path, mode=mode, side="a", append=append):
        for i in range(4):
            with bmtrace.sample("img%d.jpg" % i):
                mixed(np.arange(6, dtype=np.float32) + i, i, 0.5 * i + 0.25, "cat\u00e9")
                plain(np.full((2, 3), i, dtype=np.int16))
                try:
                    fails(np.ones(2))
                except ValueError:
                    pass
        plain(np.zeros(1))  # outside any sample


def _old(path):
    return schema.index_table(Run(path))


def _summary_from_run(path):
    run = Run(path)
    stages = {}
    for call in run.calls():
        entry = stages.setdefault(call.stage, {"stage": call.stage, "calls": 0, "samples": set(), "errors": 0})
        entry["calls"] += 1
        entry["samples"].add(call.sample)
        entry["errors"] += bool(call.error)
    return {"torn_lines": run.torn_lines, "problems": [str(p) for p in run.problems], "samples": len(run.samples()),
            "stages": [dict(e, samples=len(e["samples"])) for e in stages.values()]}


def _assert_same(path):
    table, summary = journal_columns.journal_index(str(path), Run(path).side)
    old = _old(path)
    assert table.schema == old.schema
    for column in old.column_names:
        assert table[column].to_pylist() == old[column].to_pylist(), column
    assert summary == _summary_from_run(path)
    return table


@pytest.fixture(params=["full", "stats"])
def varied_run(tmp_path, request):
    """Nested containers, scalars (int, float), strings, bytes, None, errors, meta, no-sample calls,
    two writers (two recordings appended)."""
    path = tmp_path / "run"
    _record(path, request.param)
    _record(path, request.param, append=True)
    assert len(list((path / "journal").glob("*.jsonl"))) == 2
    return path


def test_same_table_as_the_parsed_calls(varied_run):
    table = _assert_same(varied_run)
    assert table.num_rows == _old(varied_run).num_rows > 0


@pytest.mark.parametrize("chunk", [300, 5000])
def test_same_table_chunk_by_chunk(varied_run, monkeypatch, chunk):
    """Small chunks: some parse fast, some (non-empty meta, 1 against 1.0) line by line; same table."""
    monkeypatch.setattr(journal_columns, "CHUNK_BYTES", chunk)
    _assert_same(varied_run)


@pytest.mark.parametrize("varied", [False, True])
def test_recorded_runs_take_the_fast_way(tmp_path, monkeypatch, varied):
    """Recorded runs never fall back to parsing every line: not uniform ones, nor ones with values of
    several types, container paths, meta (those fields come from the lines)."""
    path = tmp_path / "run"
    if varied:
        _record(path, "full")
    else:
        with bmtrace.run(path, mode="stats"):
            for i in range(5):
                with bmtrace.sample("s%d" % i):
                    bmtrace.trace_stage("t")(lambda x, k: x + k)(np.ones((2, 2), np.float32) * i, i)

    def careful(*args):
        raise AssertionError("parsed line by line")

    monkeypatch.setattr(journal_columns, "_careful_chunk", careful)
    journal_columns.journal_index(str(path), "x")
    monkeypatch.undo()
    _assert_same(path)


@pytest.mark.parametrize("values", [(255.0, 0.5), (1, 2.5), (1e300, -0.0)])
def test_values_of_one_json_type_take_the_fast_way(tmp_path, values):
    """A value column pyarrow reads as doubles (integral ones among them, or ints among floats) is built
    from the chunk, the ambiguous texts from the lines, without falling back to the parsed calls."""
    path = tmp_path / "run"
    with bmtrace.run(path, mode="stats"):
        for i, value in enumerate(values * 2):
            with bmtrace.sample("s%d" % i):
                bmtrace.trace_stage("scaled")(lambda x, scale: x)(np.ones(3, np.float32), value)
    table, summary = journal_columns.journal_index(str(path), "x")  # raised TypeError for doubles before
    assert summary is not None and table.num_rows == 3 * 2 * len(values)  # x, scale, out per call
    _assert_same(path)


def _edit_journal(path, edit):
    journal = next((path / "journal").glob("*.jsonl"))
    lines = journal.read_bytes().split(b"\n")[:-1]
    journal.write_bytes(edit(lines))


@pytest.mark.parametrize("edit", [
    lambda lines: b"\n".join(lines) + b"\n" + lines[0][:50],  # a torn last line
    lambda lines: b"\n".join(lines[:2] + [b""] + lines[2:]) + b"\n",  # a blank line
    lambda lines: b"\n".join(lines[:1] + [b"not json"] + lines[1:]) + b"\n",
    lambda lines: b"\n".join(lines[:1] + [b'{"id": "x", "stage": 3, "t_start": 1}'] + lines[1:]) + b"\n",
    lambda lines: b"\n".join(lines[:1] + [b'{"stage": "s", "t_start": 1}'] + lines[1:]) + b"\n",
    lambda lines: b"\n".join(lines[:1] + [b'[1, 2]'] + lines[1:]) + b"\n",
    lambda lines: b"\n".join(lines[:1] + [b'{"id": "x", "stage": "s", "t_start": 1, "outputs": [7]}'] + lines[1:])
    + b"\n",
    lambda lines: b"\n".join(lines[:1] + [b'{"id": "x", "stage": "s", "t_start": 1, "mode": "fast"}'] + lines[1:])
    + b"\n",
    lambda lines: b"\n".join(lines[:1] + [b'{"id": "x", "stage": "s", "t_start": 1, "error": {}}',
                                         b'{"id": "y", "stage": "s", "t_start": 2, "error": {"type": null}}']
                             + lines[1:]) + b"\n",
    lambda lines: b"\n".join(lines[:1] + [b'{"id": "x", "stage": "s", "t_start": 1, "outputs": [{"name": "o", '
                                         b'"shape": [-1]}]}'] + lines[1:]) + b"\n",
    lambda lines: b"\n".join(lines[:1] + [b'{"id": "x", "stage": "s", "t_start": 1, "outputs": [{"name": "o", '
                                         b'"kind": "scalar", "value": 2.0, "sketch": 5}]}'] + lines[1:]) + b"\n",
    lambda lines: b"\n".join(lines[:1] + [b'{"id": "x", "stage": "s", "t_start": 1, "outputs": [{"name": "o", '
                                         b'"kind": "str", "value": "\\udc80", "path": [[1]]}]}'] + lines[1:]) + b"\n",
    lambda lines: b"\n".join(lines[:1] + [b'{"id": "x", "stage": "s", "t_start": 1, "seq": true}'] + lines[1:])
    + b"\n",
    lambda lines: b"\n".join(lines[:1] + [b'{"id": "x", "stage": "s", "t_start": 1} {"id": "y"}'] + lines[1:])
    + b"\n",
    lambda lines: b"\n".join(line.replace(b'"hash_alg": "xxh3-128"', b'"hash_alg": ""') for line in lines) + b"\n",
    # invalid JSON where the second pyarrow attempt substitutes scalar values and paths away
    lambda lines: b"\n".join(lines[:1] + [b'{"id": "x", "stage": "s", "t_start": 1, "outputs": [{"name": "o", '
                                         b'"kind": "str", "value": 1..2}]}'] + lines[1:]) + b"\n",
    lambda lines: b"\n".join(lines[:1] + [b'{"id": "x", "stage": "s", "t_start": 1, "outputs": [{"name": "o", '
                                         b'"kind": "str", "value": "a\\qb"}]}'] + lines[1:]) + b"\n",
    lambda lines: b"\n".join(lines[:1] + [b'{"id": "x", "stage": "s", "t_start": 1, "outputs": [{"name": "o", '
                                         b'"kind": "str", "value": "x", "path": [["key", nonsense]]}]}']
                             + lines[1:]) + b"\n",
    lambda lines: b"\n".join(lines[:1] + [b'{"id": "x", "stage": "s", "t_start": 1, "outputs": [{"name": "o", '
                                         b'"kind": "str", "value": 1.0, "path": [["key", "a"], ["index", 0]], '
                                         b'"meta": {"k": null}}, {"name": "p", "kind": "scalar", "value": "s", '
                                         b'"meta": {}, "path": [["key", "b"]]}]}'] + lines[1:]) + b"\n",
], ids=["torn", "blank", "not-json", "bad-type", "no-id", "not-object", "tensor-not-object", "bad-mode",
        "empty-errors", "negative-dim", "sketch-not-object", "surrogate", "bool-seq", "two-objects",
        "empty-hash-alg", "bad-number", "bad-escape", "bad-path", "mixed-values-paths-meta"])
def test_damaged_journals_read_as_run_reads_them(small_run, edit):
    """Torn, blank and invalid lines: the same rows, the same problems and torn count as Run."""
    _edit_journal(small_run, edit)
    _assert_same(small_run)


def test_build_index_stores_the_summary(varied_run):
    """build_index keeps what `bmtrace show` needs beyond the rows in the index metadata."""
    import pyarrow.parquet as pq

    from bmtrace.store.index import SUMMARY_KEY, build_index

    path = build_index(str(varied_run), force=True)
    summary = json.loads(pq.read_schema(path).metadata[SUMMARY_KEY])
    assert summary == _summary_from_run(varied_run)



@pytest.mark.parametrize("damage", [None, "problem", "torn", "missing-payload", "payload-outside"])
def test_show_from_the_index_says_what_the_journals_say(varied_run, damage):
    """`bmtrace show` reads a fresh index (two columns and the stored counts) and reports the same
    summary as from the journals, damage included."""
    from bmtrace.commands import show
    from bmtrace.store.index import build_index, read_fresh

    journal = sorted((varied_run / "journal").glob("*.jsonl"))[0]
    if damage in ("problem", "torn"):
        with open(journal, "ab") as f:
            f.write(b"not json\n" if damage == "problem" else b'{"id": "cut')
    elif damage == "missing-payload":
        payloads = sorted((varied_run / "payloads").rglob("*.npy"))
        if not payloads:
            pytest.skip("stats mode keeps no payloads")
        payloads[0].unlink()
    elif damage == "payload-outside":
        lines = journal.read_bytes().split(b"\n")
        lines[0] = lines[0].replace(b'"payload": null', b'"payload": "../../etc/passwd"', 1)
        journal.write_bytes(b"\n".join(lines))
    build_index(str(varied_run), force=True)
    run = bmtrace.open_run(varied_run)
    assert read_fresh(run.path, ("stage",)) is not None
    from_index = show.summarize(run)
    os.unlink(varied_run / "index.parquet")
    from_journals = show.summarize(bmtrace.open_run(varied_run))
    assert from_index == from_journals
    if damage:
        assert from_index["problems"] or from_index["torn_records_skipped"] or from_index["missing_payloads"]


def _call_fields(call):
    fields = {name: getattr(call, name) for name in ("id", "sample", "stage", "occurrence", "parent", "function",
                                                      "error", "meta", "mode", "pid", "thread", "t_start", "t_end",
                                                      "writer", "seq", "hash_alg")}
    fields["tensors"] = [(t.name, t.role, t.kind, t.dtype, t.shape, t.hash, t.hash_alg, t.value, t.sketch, t.meta,
                          t.path) for t in call.inputs + call.outputs]
    return fields


@pytest.mark.parametrize("damage", [None, "problem", "torn"])
def test_a_lazy_run_reads_as_an_eager_one(varied_run, monkeypatch, damage):
    """Lazy calls (located by the columnar pass, parsed from their line on use, few kept) hold what
    eager ones hold; problems and torn lines are the same."""
    from bmtrace.store import reader

    journal = sorted((varied_run / "journal").glob("*.jsonl"))[0]
    if damage:
        with open(journal, "ab") as f:
            f.write(b"not json\n" if damage == "problem" else b'{"id": "cut')
    monkeypatch.setattr(reader, "LAZY_CACHE_CALLS", 3)  # evicted and parsed again
    lazy, eager = Run(varied_run, lazy=True), Run(varied_run)
    assert [type(c).__name__ for c in lazy.calls()][:1] == ["LazyCall"]
    assert [_call_fields(c) for c in lazy.calls()] == [_call_fields(c) for c in eager.calls()]
    assert [_call_fields(c) for c in lazy.calls(sample="img1.jpg", stage="plain")] == \
        [_call_fields(c) for c in eager.calls(sample="img1.jpg", stage="plain")]
    assert lazy.samples() == eager.samples() and lazy.stages() == eager.stages()
    assert [str(p) for p in lazy.problems] == [str(p) for p in eager.problems]
    assert lazy.torn_lines == eager.torn_lines and lazy.skipped_lines == eager.skipped_lines
    assert len(lazy._parsed) <= 3
    call = lazy.calls(stage="plain")[0]
    assert call.output().load().shape == eager.calls(stage="plain")[0].output().load().shape if call.mode == "full" \
        else call.output().name == "out"


def test_diff_of_lazy_runs_equals_diff_of_eager_runs(tmp_path):
    """bmtrace.diff opens paths lazily; the result is the one of eagerly read runs."""
    a, b = tmp_path / "a", tmp_path / "b"
    _record(a, "stats")
    _record(b, "stats")
    lazy = bmtrace.diff(str(a), str(b), explain=False)
    eager = bmtrace.diff(Run(a), Run(b), explain=False)
    assert type(lazy.run_objects[0].calls()[0]).__name__ == "IndexedCall"  # found through the fresh index
    ignore = ("elapsed_s",)
    lazy_doc, eager_doc = lazy.to_json(), eager.to_json()
    for key in ignore:
        lazy_doc.pop(key, None), eager_doc.pop(key, None)
    assert lazy_doc == eager_doc
