"""Index rows lead back to their journal line (journal, journal_offset) and name an auto-traced op."""
import json

import numpy as np

import bmtrace
from bmtrace.store import journal_columns, schema
from bmtrace.store.reader import Run


@bmtrace.trace_stage("double")
def double(x):
    return x * 2


def _record(path):
    with bmtrace.run(path, side="a"):
        for i in range(3):
            with bmtrace.sample("s%d" % i):
                double(np.full(3, i))


def _both(path):
    fast, _ = journal_columns.journal_index(str(path), "a")
    slow = schema.index_table(Run(path))
    assert fast.schema == slow.schema
    for column in slow.column_names:
        assert fast[column].to_pylist() == slow[column].to_pylist(), column
    return fast


def test_each_row_leads_back_to_its_journal_line(tmp_path):
    path = tmp_path / "run"
    _record(path)
    table = _both(path)
    for row in table.to_pylist():
        assert row["journal"].startswith("journal/") and row["journal"].endswith(".jsonl")
        with open(path / row["journal"], "rb") as f:
            f.seek(row["journal_offset"])
            line = json.loads(f.readline())
        assert (line["id"], line["sample"]) == (row["call_id"], row["sample"])
    assert table["fn_op"].to_pylist() == [None] * table.num_rows


def test_fn_op_is_the_text_of_the_functions_op(tmp_path):
    path = tmp_path / "run"
    _record(path)
    journal = next((path / "journal").glob("*.jsonl"))
    lines = [json.loads(line) for line in journal.read_bytes().splitlines()]
    for line, op in zip(lines, ("cv2.resize", None, "GaussianBlur")):
        line["function"]["op"] = op
    journal.write_bytes(b"".join(json.dumps(line).encode() + b"\n" for line in lines))
    assert _both(path)["fn_op"].to_pylist()[::2] == ["cv2.resize", None, "GaussianBlur"]

    lines[1]["function"]["op"] = 7  # not a string: its text, whichever way the journal is read
    journal.write_bytes(b"".join(json.dumps(line).encode() + b"\n" for line in lines))
    assert _both(path)["fn_op"].to_pylist()[::2] == ["cv2.resize", "7", "GaussianBlur"]
