"""A lazy run reads its journal lines by blocks: every line as a direct read gives it, whatever the block
size, the order of reads, or a journal still being written."""
import os
import random

import pytest

from bmtrace.store import reader
from bmtrace.store.reader import Run

from .test_journal_columns import varied_run  # noqa: F401  (fixture)


def _lines(path):
    """(journal number, offset, length, bytes) of every line of the run's journals."""
    run = Run(path, lazy=True)
    run.calls()
    found = []
    for number, journal in enumerate(run._journals):
        offset = 0
        with open(journal, "rb") as f:
            for line in f:
                found.append((number, offset, len(line), line))
                offset += len(line)
    return run, found


@pytest.mark.parametrize("block", [1, 100, 4096, 1 << 18])
def test_lines_served_by_blocks_are_the_lines(varied_run, monkeypatch, block):  # noqa: F811
    monkeypatch.setattr(reader, "JOURNAL_BLOCK", block)
    run, lines = _lines(varied_run)
    assert len(lines) > 5 and max(length for _, _, length, _ in lines) > 100  # lines longer than small blocks
    order = list(lines) + random.Random(block).sample(lines, len(lines))  # in order, then in any order
    for number, offset, length, line in order:
        assert run._journal_line(number, offset, None) == line
        assert run._journal_line(number, offset, length) == line


def test_a_line_written_after_its_block_was_read_is_read_whole(tmp_path):
    journal = tmp_path / "journal.jsonl"
    journal.write_bytes(b'{"a": 1}\n{"b": 2')  # the second line is being written
    run = Run.__new__(Run)
    run._journals, run._files, run._blocks = [str(journal)], {}, {}
    run._lock = reader.threading.Lock()
    assert run._journal_line(0, 0, None) == b'{"a": 1}\n'
    with open(journal, "ab") as f:
        f.write(b'}\n{"c": 3}\n')
    assert run._journal_line(0, 9, None) == b'{"b": 2}\n'
    assert run._journal_line(0, 18, None) == b'{"c": 3}\n'
    assert os.path.getsize(journal) == 27


def test_a_lazy_call_dropped_from_the_window_is_freed_without_the_collector(varied_run, monkeypatch):  # noqa: F811
    """Its tensors refer to the lazy call, not to the parsed Call: no cycle, so the Call goes as soon as
    the window drops it (a diff freezes what survives collections: a cycle would stay, frozen)."""
    import gc

    def parsed_calls():
        return sum(type(o) is reader.Call for o in gc.get_objects())

    monkeypatch.setattr(reader, "LAZY_CACHE_CALLS", 1)
    run = Run(varied_run, lazy=True)
    first, second = run.calls()[:2]
    assert type(first).__name__ == "LazyCall"
    tensors = first.inputs + first.outputs
    assert tensors and all(tensor.call is first for tensor in tensors)
    del tensors
    enabled = gc.isenabled()
    gc.collect()
    gc.disable()
    try:
        before = parsed_calls()
        second.outputs  # parsing it drops the first from the window of one
        assert parsed_calls() == before  # the second's Call in, the first's freed
    finally:
        if enabled:
            gc.enable()
