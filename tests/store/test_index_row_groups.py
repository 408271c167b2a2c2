"""An index whose few-valued columns come as several Parquet dictionaries (one per row group, as a long
run's index has) serves the same calls as the journals."""
import pyarrow.parquet as pq

from bmtrace.store import reader
from bmtrace.store.index import _DICTIONARY_COLUMNS, read_fresh
from bmtrace.store.indexed_calls import COLUMNS
from bmtrace.store.reader import Run

from .test_indexed_calls import _indexed, _tensor_fields
from .test_journal_columns import _call_fields, varied_run  # noqa: F401  (fixture)


def test_dictionaries_of_several_row_groups_read_as_one(varied_run, monkeypatch):
    index = str(varied_run / "index.parquet")
    table = pq.read_table(index)  # with its metadata: the rewritten index stays fresh
    pq.write_table(table, index, row_group_size=5, use_dictionary=_DICTIONARY_COLUMNS)
    sample = read_fresh(str(varied_run), COLUMNS)[0].column("sample")
    assert len({tuple(chunk.dictionary.to_pylist()) for chunk in sample.chunks}) > 1
    monkeypatch.setattr(reader, "LAZY_CACHE_CALLS", 3)
    run, attached = _indexed(varied_run)
    eager = Run(varied_run)
    assert attached and None in eager.samples()  # calls outside any sample: nulls in the coded columns
    for lazy_call, call in zip(run.calls(), eager.calls()):
        assert _call_fields(lazy_call) == _call_fields(call)
        assert _tensor_fields(lazy_call) == _tensor_fields(call)
    assert len(run.calls()) == len(eager.calls())
    assert run.samples() == eager.samples() and run.stages() == eager.stages()


def test_python_values_decode_dictionary_columns_by_their_codes():
    import pyarrow as pa

    from bmtrace.store.index import python_values

    words = pa.array(["a", None, "b", "a"]).dictionary_encode()
    column = pa.chunked_array([words, pa.array(["c", None]).dictionary_encode()])
    assert python_values(column) == ["a", None, "b", "a", "c", None]
    assert python_values(pa.chunked_array([pa.array([1, None]), pa.array([3])])) == [1, None, 3]
