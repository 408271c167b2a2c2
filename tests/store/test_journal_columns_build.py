"""The index build at stop(): no pandas import in the user's process, arrays built from buffers equal
pyarrow's own, and journals read in any chunking and order give the table Run gives."""
import importlib.util
import os
import subprocess
import sys
import textwrap

import numpy as np
import pyarrow as pa
import pytest

import bmtrace
from bmtrace.store import arrow_arrays, journal_columns

from .test_journal_columns import _assert_same, _edit_journal, _record

REPO = os.path.dirname(os.path.dirname(os.path.abspath(bmtrace.__file__)))


def _python(code):
    """Run ``code`` in a fresh interpreter (other tests' imports do not count); returns its stdout."""
    env = dict(os.environ, PYTHONPATH=REPO)
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, env=env,
                          cwd=REPO)
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.mark.skipif(importlib.util.find_spec("pandas") is None, reason="pandas is not installed")
def test_stop_builds_the_index_without_importing_pandas(tmp_path):
    """pyarrow imports pandas on its first pa.array/pa.scalar/to_numpy: half a second at stop()."""
    out = _python("""
        import sys
        import numpy as np
        import bmtrace

        @bmtrace.trace_stage("scale")
        def scale(x, k, label):
            return {"y": x * k, "label": label}

        bmtrace.start(%r, mode="stats")
        for i in range(5):
            with bmtrace.sample("s%%d" %% i):
                scale(np.arange(6.0), i if i %% 2 else 0.5, "cat")
        bmtrace.stop()
        print("index" if __import__("os").path.exists(%r) else "no index", "pandas" in sys.modules)
    """ % (str(tmp_path / "run"), str(tmp_path / "run" / "index.parquet")))
    assert out.split() == ["index", "False"]


@pytest.mark.skipif(importlib.util.find_spec("pandas") is None, reason="pandas is not installed")
def test_careful_chunks_build_without_importing_pandas(small_run):
    """A chunk parsed line by line (here: an invalid line) builds its arrays without pandas too."""
    _edit_journal(small_run, lambda lines: b"\n".join(lines[:1] + [b"not json"] + lines[1:]) + b"\n")
    out = _python("""
        import sys
        from bmtrace.store import journal_columns
        table, summary = journal_columns.journal_index(%r, "a")
        print(table.num_rows, len(summary["problems"]), "pandas" in sys.modules)
    """ % str(small_run))
    assert out.split() == ["6", "1", "False"]


@pytest.mark.parametrize("typ, values", [
    (pa.string(), ["a", None, "caf\u00e9", ""]), (pa.int64(), [1, None, -3]), (pa.int32(), [0, 7]),
    (pa.int8(), [1, 0]), (pa.float64(), [1.5, None, 2.0, float("inf")]), (pa.bool_(), [True, None, False]),
    (pa.list_(pa.int64()), [[1, 2], None, [], [3]]), (pa.string(), []), (pa.list_(pa.int64()), []),
])
def test_arrays_from_python_values_equal_pyarrows(typ, values):
    built = arrow_arrays.from_pylist(values, typ)
    built.validate(full=True)
    assert built.type == typ and built.equals(pa.array(values, type=typ))


def test_arrays_to_numpy_follow_slices_and_nulls():
    numbers = arrow_arrays.from_numpy(np.arange(10, dtype=np.int64)).slice(3, 4)
    assert arrow_arrays.to_numpy(numbers).tolist() == [3, 4, 5, 6]
    flags = [True, False, True, True, False, False, True, False, True, True]
    assert arrow_arrays.to_numpy(arrow_arrays.from_numpy(np.array(flags)).slice(3, 6)).tolist() == flags[3:9]
    chunked = pa.chunked_array([arrow_arrays.from_pylist([1.0, None], pa.float64()),
                                arrow_arrays.from_pylist([2.0], pa.float64())])
    assert np.isnan(arrow_arrays.to_numpy(chunked)).tolist() == [False, True, False]
    with pytest.raises(ValueError):
        arrow_arrays.to_numpy(arrow_arrays.from_pylist([1, None], pa.int64()))
    with pytest.raises(UnicodeEncodeError):
        arrow_arrays.strings(["\udcff"])  # journal_columns stores it escaped (schema.safe_text)
    assert arrow_arrays.repeat("x", 3).to_pylist() == ["x"] * 3
    assert arrow_arrays.scalar(None, pa.string()).as_py() is None
    assert arrow_arrays.scalar(0, pa.int32()).type == pa.int32()


@pytest.mark.parametrize("count", [b"-1", b'"many"', b"2.0"])
def test_a_bad_stats_sample_is_refused_as_run_refuses_it(small_run, count):
    """schema.parse_tensor wants a non-negative integer: the line is skipped, with a problem."""
    def edit(lines):
        line = (b'{"id": "x", "stage": "s", "t_start": 1, "outputs": [{"name": "o", "stats_sample": %s}]}' % count)
        return b"\n".join(lines[:1] + [line] + lines[1:]) + b"\n"

    _edit_journal(small_run, edit)
    table = _assert_same(small_run)
    assert "x" not in table["call_id"].to_pylist()


@pytest.mark.parametrize("chunk", [200, 1000, 1 << 20])
@pytest.mark.parametrize("torn", [False, True])
def test_lines_out_of_recording_order_in_any_chunking(tmp_path, monkeypatch, chunk, torn):
    """Calls written in another order than their start times (nested calls, two writers) are sorted as
    Run sorts them; lines longer than a chunk and a torn last line read the same in any chunking."""
    path = tmp_path / "run"
    _record(path, "stats")
    _edit_journal(path, lambda lines: b"\n".join(lines[::-1]) + b"\n" + (lines[0][:40] if torn else b""))
    monkeypatch.setattr(journal_columns, "CHUNK_BYTES", chunk)
    _assert_same(path)


def test_rows_already_in_order_are_not_copied():
    table = pa.table({"a": [1, 2, 3]})
    assert journal_columns._take(table, np.arange(3)) is table
    assert journal_columns._take(table, np.array([2, 0, 1]))["a"].to_pylist() == [3, 1, 2]


@pytest.mark.parametrize("chunk", [1000, 1 << 20])
def test_a_single_writer_run_is_indexed_without_reordering_the_whole_table(tmp_path, monkeypatch, chunk):
    """Each chunk's tensors come out call by call (pyarrow lists a chunk's inputs, then its outputs), so
    the index of a run written in recording order is built without taking all its rows again."""
    path = tmp_path / "run"
    _record(path, "stats")
    monkeypatch.setattr(journal_columns, "CHUNK_BYTES", chunk)
    read = list(journal_columns.read_journals(str(path)))
    tensors = read[1]
    keys = [(r, o, p) for r, o, p in zip(tensors["call_row"].to_pylist(), tensors["role_order"].to_pylist(),
                                         tensors["position"].to_pylist())]
    assert keys == sorted(keys) and len(set(o for _, o, _ in keys)) == 2  # inputs and outputs, in call order
    taken = []
    real_take = journal_columns._take
    monkeypatch.setattr(journal_columns, "_take", lambda table, order: taken.append(
        not np.array_equal(order, np.arange(len(order)))) or real_take(table, order))
    journal_columns._assemble(read, "x", str(path))
    assert taken and not any(taken)
    _assert_same(path)
