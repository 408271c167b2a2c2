"""`bmtrace diff --parquet-out FILE`: one row per tensor pair, queryable without bmtrace."""
import pytest

from bmtrace.diff.frames import PARQUET_COLUMNS

pq = pytest.importorskip("pyarrow.parquet")
pc = pytest.importorskip("pyarrow.compute")


@pytest.fixture
def table(runs, cli, tmp_path):
    """The Parquet rows of a diff whose resize is off by one."""
    out = tmp_path / "diff.parquet"
    proc = cli("diff", runs("a"), runs("b", resize_shift=1), "--parquet-out", out, "-q")
    assert proc.returncode == 1, proc.stderr
    return out


def test_parquet_has_the_documented_columns(table):
    """The file has the to_pandas columns plus run paths and call ids."""
    assert pq.read_schema(table).names == list(PARQUET_COLUMNS)


def test_parquet_rows_query_with_pyarrow(table):
    """Filtering diverged output rows with pyarrow finds resize and downstream, with their call ids."""
    rows = pq.read_table(table)
    bad = rows.filter(pc.and_(pc.equal(rows["status"], "diverged"), pc.equal(rows["role"], "output")))
    assert set(bad["stage"].to_pylist()) >= {"resize"}
    assert all(bad["call_a"].to_pylist()) and all(bad["call_b"].to_pylist())
    resize = bad.filter(pc.equal(bad["stage"], "resize"))
    assert pc.max(resize["max_abs_diff"]).as_py() == 1.0 and resize.num_rows == 3


def test_parquet_joins_the_run_index_with_duckdb(table, runs):
    """DuckDB (when installed) joins the diff rows with run A's index on the call id."""
    duckdb = pytest.importorskip("duckdb")
    import bmtrace
    from bmtrace.store.index import build_table

    index = build_table(bmtrace.open_run(runs("a")))  # noqa: F841  (queried by name below)
    count = duckdb.sql("SELECT count(*) FROM read_parquet('%s') d JOIN index i ON d.call_a = i.call_id "
                       "AND d.tensor = i.name AND d.role = i.role WHERE d.stage = 'resize'" % table).fetchone()[0]
    assert count == 6


def test_nway_parquet_holds_every_candidate(runs, cli, tmp_path):
    """With several candidates the file holds each candidate's rows, told apart by run_b."""
    out = tmp_path / "n.parquet"
    ref = runs("ref")
    cli("diff", ref, runs("c1"), runs("c2", resize_shift=1), "--parquet-out", out, "-q")
    rows = pq.read_table(out)
    assert sorted(set(p.rsplit("/", 1)[-1] for p in rows["run_b"].to_pylist())) == ["c1", "c2"]
