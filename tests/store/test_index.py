"""Opening a run never writes; the Parquet index is built explicitly and at the end of a recording."""
import os
import subprocess
import sys
import textwrap

import pyarrow.parquet as pq

import bmtrace
from bmtrace.store.index import build_index, index_is_fresh
from bmtrace.store.schema import INDEX_COLUMNS

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _listing(path):
    return sorted((str(p), p.stat().st_mtime_ns) for p in path.rglob("*"))


def test_open_run_writes_nothing(small_run):
    """Opening and reading a run whose index is missing leaves the directory unchanged."""
    os.unlink(small_run / "index.parquet")
    before = _listing(small_run)
    run = bmtrace.open_run(small_run)
    run.calls(), run.meta, run.index()
    assert _listing(small_run) == before


def test_build_index_writes_one_row_per_tensor(small_run):
    """build_index writes index.parquet with the schema's columns and one row per tensor."""
    os.unlink(small_run / "index.parquet")
    path = build_index(str(small_run))
    table = pq.read_table(path)
    assert table.column_names == [name for name, _ in INDEX_COLUMNS]
    assert table.num_rows == 6 and index_is_fresh(str(small_run))


def test_index_goes_stale_when_a_record_is_added(small_run):
    """Appending a record makes the index stale until it is rebuilt."""
    with bmtrace.run(small_run, append=True):
        from .conftest import double
        import numpy as np
        double(np.ones(1))
    assert index_is_fresh(str(small_run))  # stop() rebuilt it
    with open(next((small_run / "journal").glob("*.jsonl")), "ab") as f:
        f.write(b"\n")
    assert not index_is_fresh(str(small_run))


def test_run_table_matches_the_journal(small_run):
    """Run.index() holds the recorded statistics and hash algorithm of each tensor."""
    table = bmtrace.open_run(small_run).index().to_pylist()
    outputs = [row for row in table if row["role"] == "output"]
    assert [row["sample"] for row in outputs] == ["s0", "s1", "s2"]
    assert [row["max"] for row in outputs] == [10.0, 12.0, 14.0]
    assert all(row["hash_alg"] == bmtrace.open_run(small_run).hash_alg for row in table)


def test_environment_run_has_its_index_after_exit(tmp_path):
    """A run started by BMTRACE_DIR has index.parquet once the program exits (built at exit)."""
    script = tmp_path / "prog.py"
    script.write_text(textwrap.dedent("""
        import numpy as np, bmtrace
        @bmtrace.trace_stage("stage")
        def stage(x):
            return x + 1
        stage(np.arange(3))
    """))
    env = dict(os.environ, BMTRACE_DIR=str(tmp_path / "run"), PYTHONPATH=REPO)
    result = subprocess.run([sys.executable, str(script)], env=env, capture_output=True, text=True)
    assert result.returncode == 0 and result.stderr == ""
    assert (tmp_path / "run" / "index.parquet").exists()


def test_run_index_reads_a_fresh_index_file(small_run):
    """Run.index() reads index.parquet when it matches the journals, and rebuilds when stale."""
    from bmtrace.store.layout import INDEX_FINGERPRINT_KEY

    table = bmtrace.open_run(small_run).index()
    assert INDEX_FINGERPRINT_KEY in (table.schema.metadata or {})  # came from the file
    with open(next((small_run / "journal").glob("*.jsonl")), "ab") as f:
        f.write(b"[1]\n")
    rebuilt = bmtrace.open_run(small_run).index()
    assert INDEX_FINGERPRINT_KEY not in (rebuilt.schema.metadata or {}) and rebuilt.num_rows == table.num_rows


def test_damaged_index_file_is_ignored(small_run):
    """A garbage index.parquet does not break Run.index(); the table comes from the journals."""
    (small_run / "index.parquet").write_bytes(b"not parquet")
    assert bmtrace.open_run(small_run).index().num_rows == 6


def test_reader_does_not_import_the_index_or_pyarrow(small_run):
    """Reading a run loads neither bmtrace.store.index nor pyarrow (the index imports the reader)."""
    code = ("import sys, bmtrace; r = bmtrace.open_run(sys.argv[1]); r.calls(); r.meta; "
            "r.calls()[0].output().load(); "
            "print(sorted(m for m in ('bmtrace.store.index', 'pyarrow') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code, str(small_run)], capture_output=True, text=True, check=True,
                         env=dict(os.environ, PYTHONPATH=REPO)).stdout.strip()
    assert out == "[]"
