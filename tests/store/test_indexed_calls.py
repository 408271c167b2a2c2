"""Calls served from a fresh index (IndexedCall) hold exactly what calls parsed from the journals hold,
and the index is only used when it can stand in for the journals."""
import gc
import json
import os

import numpy as np
import pytest

import bmtrace
from bmtrace.store import reader
from bmtrace.store.index import build_index, read_fresh
from bmtrace.store.indexed_calls import COLUMNS
from bmtrace.store.reader import Run

from .test_journal_columns import _call_fields, _record, varied_run  # noqa: F401  (fixture)

TENSOR_FIELDS = ("name", "role", "kind", "dtype", "shape", "min", "max", "mean", "std", "nan_count", "inf_count",
                 "hash", "hash_alg", "meta", "note", "payload", "value", "path", "container", "py_type", "sketch",
                 "stats_sample", "has_payload", "is_array")


def _indexed(path):
    run = Run(path, lazy=True)
    fresh = read_fresh(run.path, COLUMNS)
    assert fresh is not None, "bmtrace.run() leaves a fresh index"
    attached = run.attach_index(*fresh)
    return run, attached


def _tensor_fields(call):
    return [{name: getattr(t, name) for name in TENSOR_FIELDS} for t in call.inputs + call.outputs]


def test_indexed_calls_read_as_parsed_ones(varied_run, monkeypatch):
    """Every call and tensor attribute, served or parsed, equals the eager Run's; with a window of
    three calls, so calls are forgotten and served again."""
    monkeypatch.setattr(reader, "LAZY_CACHE_CALLS", 3)
    run, attached = _indexed(varied_run)
    eager = Run(varied_run)
    assert attached and type(run.calls()[0]).__name__ == "IndexedCall"
    assert len(run.calls()) == len(eager.calls())
    for lazy_call, call in zip(run.calls(), eager.calls()):
        assert _call_fields(lazy_call) == _call_fields(call)
        assert _tensor_fields(lazy_call) == _tensor_fields(call)
        assert lazy_call.location == call.location
    assert len(run._parsed) <= 3
    assert run.samples() == eager.samples() and run.stages() == eager.stages()
    assert run.problems == [] and run.torn_lines == 0


@bmtrace.trace_stage("scale")
def scale(x):
    return x.astype(np.float32) / 255


@bmtrace.trace_stage("mean")
def mean(x):
    return x.mean(axis=0)


def test_settled_pairs_are_not_parsed(tmp_path):
    """A diff of two equal array pipelines parses no journal line when the index is fresh: the
    hashes settle every pair. Values of strings, non-empty meta and errors do come from the lines."""
    for name in ("a", "b"):
        with bmtrace.run(tmp_path / name, mode="stats", side=name):
            for i in range(5):
                with bmtrace.sample("img%d.jpg" % i):
                    mean(scale(np.full((4, 3), i, dtype=np.uint8)))
    parsed = []
    original = Run._parsed_call

    def counting(self, lazy):
        if lazy._call is None:
            parsed.append((lazy.stage, lazy.sample))
        return original(self, lazy)

    Run._parsed_call = counting
    try:
        result = bmtrace.diff(str(tmp_path / "a"), str(tmp_path / "b"), explain=False)
    finally:
        Run._parsed_call = original
    assert type(result.run_objects[0].calls()[0]).__name__ == "IndexedCall"
    assert result and len(result.stages) == 10
    assert parsed == []


@pytest.mark.parametrize("mode", ["full", "stats"])
@pytest.mark.parametrize("index", [True, False])
def test_diff_through_the_index_equals_the_eager_diff(tmp_path, mode, index):
    """Same diff document with the index (IndexedCall), without it (LazyCall) and from eager runs,
    on runs that differ in places."""
    a, b = tmp_path / "a", tmp_path / "b"
    _record(a, mode)
    with bmtrace.run(b, mode=mode, side="b"):
        for i in range(4):
            with bmtrace.sample("img%d.jpg" % i):
                from .test_journal_columns import fails, mixed, plain

                mixed(np.arange(6, dtype=np.float32) + i + (0.5 if i == 2 else 0), i, 0.5 * i + 0.25, "cat\u00e9")
                plain(np.full((2, 3), i, dtype=np.int16))
                try:
                    fails(np.ones(2))
                except ValueError:
                    pass
        plain(np.zeros(1))
    if not index:
        for run in (a, b):
            os.unlink(run / "index.parquet")
    lazy = bmtrace.diff(str(a), str(b), explain=False)
    eager = bmtrace.diff(Run(a), Run(b), explain=False)
    assert type(lazy.run_objects[0].calls()[0]).__name__ == ("IndexedCall" if index else "LazyCall")
    lazy_doc, eager_doc = lazy.to_json(), eager.to_json()
    for doc in (lazy_doc, eager_doc):
        doc.pop("elapsed_s", None)
    assert lazy_doc == eager_doc
    assert not lazy  # sample img2.jpg differs


def _append_line(path, text):
    journal = sorted((path / "journal").glob("*.jsonl"))[0]
    with open(journal, "ab") as f:
        f.write(text)


def test_an_index_with_skipped_lines_is_not_used(varied_run):
    """Problems are reported with their journal line numbers, which only the journals give."""
    _append_line(varied_run, b"not json\n")
    build_index(str(varied_run))
    run, attached = _indexed(varied_run)
    assert not attached and type(run.calls()[0]).__name__ == "LazyCall"
    assert [str(p) for p in run.problems] == [str(p) for p in Run(varied_run).problems]


def test_calls_without_tensors_are_not_lost(tmp_path):
    """A call with no tensor has no index row: the index cannot list the calls, the journals do."""
    _record(tmp_path / "run", "stats")
    record = {"id": "w:999", "seq": 999, "writer": "w", "stage": "empty", "sample": "img0.jpg",
              "t_start": 1e10, "inputs": [], "outputs": []}
    _append_line(tmp_path / "run", (json.dumps(record) + "\n").encode())
    build_index(str(tmp_path / "run"))
    run, attached = _indexed(tmp_path / "run")
    assert not attached
    assert [c.stage for c in run.calls()] == [c.stage for c in Run(tmp_path / "run").calls()]
    assert "empty" in run.stages()


def test_text_the_index_escapes_is_read_from_the_lines(tmp_path):
    """An undecodable file name as sample key: the index holds an escape, the line the key itself."""
    key = os.fsdecode(b"img\xff.jpg")
    with bmtrace.run(tmp_path / "run", mode="stats"):
        with bmtrace.sample(key):
            from .test_journal_columns import plain

            plain(np.zeros(3))
    run, attached = _indexed(tmp_path / "run")
    assert not attached
    assert run.samples() == [key]


def test_a_stale_index_is_not_read(varied_run):
    _append_line(varied_run, b"")
    journal = sorted((varied_run / "journal").glob("*.jsonl"))[0]
    os.utime(journal, None)
    with open(journal, "ab") as f:
        f.write(json.dumps({"id": "w:1000", "stage": "late", "t_start": 1e10, "sample": "x",
                            "outputs": [{"name": "out", "kind": "none"}]}).encode() + b"\n")
    assert read_fresh(str(varied_run), COLUMNS) is None
    assert "late" in bmtrace.diff(str(varied_run), str(varied_run), explain=False).stage_order


def test_an_index_that_leads_to_the_wrong_line_is_reported(tmp_path):
    """An edited index whose offsets lead elsewhere: a clear error naming the index, not wrong data."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from bmtrace.errors import CorruptRunError

    _record(tmp_path / "run", "stats")
    path = tmp_path / "run" / "index.parquet"
    table = pq.read_table(path)
    offsets = table["journal_offset"].to_numpy()
    shifted = np.roll(np.unique(offsets), 1)  # each call's rows now point at another call's line
    remap = dict(zip(np.unique(offsets).tolist(), shifted.tolist()))
    column = pa.array([remap[o] for o in offsets.tolist()], type=pa.int64())
    table = table.set_column(table.schema.get_field_index("journal_offset"), "journal_offset", column)
    pq.write_table(table, path)  # the metadata (fingerprint, summary) is kept
    run, attached = _indexed(tmp_path / "run")
    assert attached
    with pytest.raises(CorruptRunError, match="index.parquet does not match"):
        for call in run.calls():
            call.function


def test_calls_the_window_drops_leave_no_cyclic_garbage(tmp_path, monkeypatch):
    """A call parsed for an IndexedCall is freed as soon as the window drops it (its tensors refer to the
    IndexedCall, not back to it), and those tensors still load and name their call."""
    with bmtrace.run(tmp_path / "r", side="r"):
        for i in range(6):
            with bmtrace.sample("s%d" % i):
                bmtrace.trace_stage("twice")(lambda x: x * 2)(np.full((3, 3), i, np.float32))
    run, attached = _indexed(str(tmp_path / "r"))
    assert attached
    calls = run.calls()
    parsed = run._parsed_call(calls[2])
    tensor = parsed.outputs[0]
    assert tensor.call is calls[2] and tensor.hash_alg == parsed.hash_alg
    assert np.array_equal(tensor.load(), np.full((3, 3), 4, np.float32))
    del parsed, tensor
    monkeypatch.setattr(reader, "LAZY_CACHE_CALLS", 2)
    gc.collect()
    gc.disable()
    try:
        for call in calls:
            assert call.outputs[0].sketch is None  # (full mode) read from the parsed line
        found = gc.collect()
    finally:
        gc.enable()
    assert found == 0


def test_a_judged_tensor_reads_only_its_entry(tmp_path):
    """Asking an indexed tensor for what the index does not hold (its sketch, its statistics) validates
    its own entry of the line and builds no Call; a call parsed whole later answers the same."""
    _record(tmp_path / "run", "stats")
    run, attached = _indexed(tmp_path / "run")
    eager = Run(tmp_path / "run")
    assert attached
    for lazy_call, call in zip(run.calls(), eager.calls()):
        for lazy_tensor, tensor in zip(lazy_call.inputs + lazy_call.outputs, call.inputs + call.outputs):
            assert (lazy_tensor.sketch, lazy_tensor.min, lazy_tensor.std, lazy_tensor.note) == \
                (tensor.sketch, tensor.min, tensor.std, tensor.note)
        assert lazy_call._call is None
    assert len(run._parsed) > 0  # the tensors were built and are kept in the window, their calls not parsed


def _rewrite_line(path, edit):
    """Apply ``edit`` to the decoded first line of the run's journal, keeping every other byte (and the
    index's offsets) where they were: the line is padded to its old length."""
    journal = sorted((path / "journal").glob("*.jsonl"))[0]
    data = journal.read_bytes()
    end = data.index(b"\n")
    record = json.loads(data[:end])
    edit(record)
    line = json.dumps(record).encode()
    assert len(line) <= end, "the edit must not lengthen the line"
    journal.write_bytes(line + b" " * (end - len(line)) + data[end:])


def test_a_malformed_entry_is_a_clear_error_and_others_still_read(tmp_path):
    """Only the entry read is validated: a malformed output is an error naming the index and the field
    when it is read, while the call's well-formed input still reads."""
    from bmtrace.errors import CorruptRunError

    _record(tmp_path / "run", "stats")

    def break_output(record):
        assert record["outputs"] and record["inputs"]
        record["outputs"][0]["min"] = "0"
        record["function"] = None

    _rewrite_line(tmp_path / "run", break_output)  # same size: the index still counts as fresh
    run, attached = _indexed(tmp_path / "run")
    assert attached
    first = run.calls()[0]
    assert first.inputs[0].kind == "array" and first.inputs[0].std is not None
    with pytest.raises(CorruptRunError, match=r"index.parquet does not match .*outputs\[0\]\.min"):
        first.outputs[0].min


def test_call_meta_reads_only_its_field(tmp_path):
    """A call's own meta (which predictions read) comes from its line without building the Call, equal
    to the parsed call's; a malformed one is an error naming the index and the field."""
    from bmtrace.errors import CorruptRunError

    _record(tmp_path / "run", "stats")

    def declare(record):
        record["meta"] = {"kind": "classification"}
        record["function"] = None  # (the line must not grow)

    _rewrite_line(tmp_path / "run", declare)
    run, attached = _indexed(tmp_path / "run")
    assert attached
    calls = run.calls()
    assert calls[0].meta == {"kind": "classification"} and calls[1].meta == {}
    assert calls[0]._call is None and calls[1]._call is None
    eager = Run(tmp_path / "run").calls()
    assert [c.meta for c in calls[:2]] == [c.meta for c in eager[:2]]

    _rewrite_line(tmp_path / "run", lambda record: record.update(meta=["kind"]))
    run, attached = _indexed(tmp_path / "run")
    assert attached
    with pytest.raises(CorruptRunError, match=r"index.parquet does not match .*'meta'"):
        run.calls()[0].meta
