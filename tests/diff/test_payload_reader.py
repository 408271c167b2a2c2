"""The diff's payload reader and representation screen: faster paths that must change no result."""
import os

import numpy as np
from payload_files import damage
import pytest

import bmtrace
from bmtrace.compare.representation import SCALES
from bmtrace.errors import PayloadCorruptError
from bmtrace.diff.pairs import _ruled_out_by_stats
from bmtrace.diff.prefetch import PayloadReader


def _record(path, arrays):
    with bmtrace.run(str(path)):
        with bmtrace.sample("s0"):
            with bmtrace.trace_stage("infer") as st:
                st.output(**arrays)
    return bmtrace.open_run(str(path))


def test_reader_gives_what_tensor_load_gives(tmp_path):
    """Same values, dtype, shape, memory order and writability as Tensor.load, C and Fortran order."""
    rng = np.random.default_rng(0)
    arrays = {"c": rng.random((3, 5, 7), dtype=np.float32), "f": rng.random((4, 6)).T,
              "u8": rng.integers(0, 255, (16, 16, 3)).astype(np.uint8), "one": np.float32([2.5]),
              "i16": np.arange(-50, 50, dtype=np.int16).reshape(10, 10)[:, ::2]}
    run = _record(tmp_path / "r", arrays)
    reader = PayloadReader()
    for tensor in run.calls()[0].outputs:
        fast, slow = reader.load(tensor), tensor.load()
        assert fast is not None, tensor.name
        assert fast.dtype == slow.dtype and fast.shape == slow.shape and np.array_equal(fast, slow)
        assert fast.flags.c_contiguous == slow.flags.c_contiguous and fast.flags.writeable


def test_reader_leaves_unusual_payloads_to_tensor_load(tmp_path):
    """A symlinked or damaged payload is not read here: Tensor.load reads it and reports the problem."""
    # over 64 KB each: payload files of their own, not records of one pack
    run = _record(tmp_path / "r", {"a": np.arange(20000, dtype=np.float32), "b": np.ones(20000, np.float32)})
    linked, damaged = run.calls()[0].outputs
    target = tmp_path / "elsewhere.npy"
    np.save(str(target), np.arange(20000, dtype=np.float32))
    os.remove(linked.payload_file)
    os.symlink(str(target), os.path.join(run.path, linked.payload))
    with open(damaged.payload_file, "r+b") as f:
        f.seek(-4, os.SEEK_END)
        f.write(b"\x00\x00\x80\x7f")
    reader = PayloadReader()
    assert reader.load(linked) is None and reader.load(damaged) is None
    with pytest.raises(PayloadCorruptError):
        damaged.load()


def test_damaged_payload_is_an_error_in_the_diff(tmp_path):
    a = _record(tmp_path / "a", {"x": np.arange(4096, dtype=np.float32)})
    b = _record(tmp_path / "b", {"x": np.arange(4096, dtype=np.float32) + 1})
    damage(b.calls()[0].outputs[0], "flipped")  # a record in the writer's pack
    result = bmtrace.diff(a.path, b.path, explain=False)
    tensor = result.stages[0].tensors[0]
    assert tensor.status == "error" and "content hash" in tensor.notes[0]


class _Record:
    def __init__(self, lo, hi, dtype="float32", nan=0):
        self.min, self.max, self.dtype, self.nan_count, self.inf_count = lo, hi, dtype, nan, 0
        self.mean = self.std = None


@pytest.mark.parametrize("scale", SCALES)
def test_stats_screen_never_rules_out_a_scaled_copy(scale):
    """Whatever the permutation or channel flip, B = A * scale keeps min and max in that ratio."""
    rng = np.random.default_rng(1)
    a = rng.random((8, 8, 3), dtype=np.float32)
    b = (a[:, :, ::-1].transpose(2, 0, 1) * np.float32(scale)).astype(np.float32)
    ta, tb = _Record(float(a.min()), float(a.max())), _Record(float(b.min()), float(b.max()))
    assert not _ruled_out_by_stats(ta, tb, SCALES)
    u8 = (a * 255).astype(np.uint8)
    assert not _ruled_out_by_stats(_Record(int(u8.min()), int(u8.max()), "uint8"),
                                   _Record(float(u8.min()), float(u8.max())), SCALES)


def test_stats_screen_rules_out_real_differences_only_when_it_can():
    assert _ruled_out_by_stats(_Record(-1.0, 1.0), _Record(-1.5, 1.2), SCALES)
    assert not _ruled_out_by_stats(_Record(-1.0, 1.0), _Record(-1.5, 1.2, nan=1), SCALES)  # min/max skip NaN
    assert not _ruled_out_by_stats(_Record(None, 1.0), _Record(-1.5, 1.2), SCALES)
    assert not _ruled_out_by_stats(_Record(-1.0, 1.0), _Record(-2.0, 2.0), SCALES + (2.0,))


def test_stats_screen_uses_mean_and_std_when_recorded():
    """Same min and max (a 0..255 image), other mean: no mapping; equal statistics: maybe one."""
    rng = np.random.default_rng(2)
    a = rng.integers(0, 256, (32, 32, 3)).astype(np.uint8)
    b = np.clip(a.astype(int) + 9, 0, 255).astype(np.uint8)
    a[0, 0], b[0, 0] = (0, 0, 255), (0, 0, 255)

    def record(x):
        r = _Record(int(x.min()), int(x.max()), "uint8")
        r.mean, r.std = float(x.mean()), float(x.std())
        return r
    assert _ruled_out_by_stats(record(a), record(b), SCALES)
    assert not _ruled_out_by_stats(record(a), record(a[:, :, ::-1].transpose(1, 0, 2)), SCALES)
    f = a.astype(np.float32) / np.float32(255)
    assert not _ruled_out_by_stats(record(a), _record_float(f), SCALES)


def _record_float(x):
    r = _Record(float(x.min()), float(x.max()))
    r.mean, r.std = float(x.astype(np.float64).mean()), float(x.astype(np.float64).std())
    return r


def test_read_buffers_are_reused_only_when_no_array_refers_to_them():
    from bmtrace.diff.prefetch import _Buffers

    pool = _Buffers()
    view = pool.take(100000)
    first = view.obj
    held = np.frombuffer(view, np.uint8, count=80000).reshape(200, 400, order="F")
    del view
    view = pool.take(90000)
    second = view.obj
    assert second is not first  # ``held`` still reads the first buffer
    assert pool.take(90000).obj is not second  # nor is a buffer handed out whose view is still held
    del held, view
    assert pool.take(60000).obj is second  # the smallest free buffer that fits
    small = pool.take(10000).obj  # both far too large for it: a kept array would pin the whole buffer
    assert small is not first and small is not second
    assert len(pool.take(pool.MAX_BYTES + 1)) == pool.MAX_BYTES + 1 and len(pool.pool) == 4
    pinned = [np.frombuffer(pool.take(10 + i), np.uint8) for i in range(pool.KEEP + 3)]
    assert len(pool.pool) == pool.KEEP and len(pinned) == pool.KEEP + 3


def test_arrays_loaded_earlier_keep_their_values(tmp_path):
    """Arrays a caller keeps are never overwritten by later reads into reused buffers."""
    run = _record(tmp_path / "r", {"o%d" % i: np.full(3000, i, np.float32) for i in range(12)})
    reader = PayloadReader()
    kept = [reader.load(t) for t in run.calls()[0].outputs]
    for _ in range(3):
        [reader.load(t) for t in run.calls()[0].outputs]
    assert [float(k[0]) for k in kept] == list(range(12)) and all((k == k[0]).all() for k in kept)


def test_payloads_of_indexed_runs_load_without_their_lines(tmp_path, monkeypatch):
    """Full-mode pairs that differ within tolerance are loaded, verified against the index's hashes and
    compared without parsing a journal line; a payload that no longer matches its hash is still caught."""
    from bmtrace.store.reader import Run

    for name, offset in (("a", 0.0), ("b", 1e-6)):
        with bmtrace.run(str(tmp_path / name), side=name):
            for i in range(4):
                with bmtrace.sample("s%d" % i):
                    bmtrace.trace_stage("infer")(lambda x: x + np.float32(offset))(np.full((8, 8), i, np.float32))
    parsed = []
    original = Run._parsed_call
    monkeypatch.setattr(Run, "_parsed_call", lambda self, lazy: parsed.append(lazy.stage) or original(self, lazy))
    result = bmtrace.diff(str(tmp_path / "a"), str(tmp_path / "b"), explain=False)
    assert type(result.run_objects[0].calls()[0]).__name__ == "IndexedCall"
    outputs = [t for stage in result.stages for t in stage.tensors if t.role == "output"]
    assert result and len(outputs) == 4 and all(t.basis == "payload" and t.status == "close" for t in outputs)
    assert parsed == []
    monkeypatch.undo()
    damage(bmtrace.open_run(str(tmp_path / "b")).calls()[0].outputs[0], "flipped")
    damaged = bmtrace.diff(str(tmp_path / "a"), str(tmp_path / "b"), explain=False)
    assert damaged.stages[0].status == "error" and "content hash" in damaged.stages[0].tensors[-1].notes[0]


@pytest.mark.parametrize("mode", ["full", "stats"])
def test_an_indexed_run_screens_pairs_without_parsing_lines(tmp_path, monkeypatch, mode):
    """The statistics the screen reads come from the run's index, as the lines' numbers would give them
    (an integer min as a float, a missing statistic as none), and judging the pair parses no line. A run
    without payloads (stats mode) does not keep them: its lines give the same figures."""
    from bmtrace.diff.engine import _open
    from bmtrace.diff.pairs import _statistics
    from bmtrace.store import reader

    arrays = {"u8": np.arange(256, dtype=np.uint8).reshape(16, 16), "f": np.linspace(-2, 3, 300, dtype=np.float32),
              "i64": np.array([-(2 ** 62), 5], dtype=np.int64), "flag": np.array([True, False])}
    with bmtrace.run(str(tmp_path / "r"), mode=mode):
        with bmtrace.sample("s0"):
            with bmtrace.trace_stage("infer") as st:
                st.input(label="cat")
                st.output(**arrays)
    plain = bmtrace.open_run(str(tmp_path / "r"))
    expected = {t.name: _statistics(t) for t in plain.calls()[0].inputs + plain.calls()[0].outputs}
    parsed = []
    real = reader.Run._parsed_entry
    monkeypatch.setattr(reader.Run, "_parsed_entry", lambda self, *a: parsed.append(a) or real(self, *a))
    call = _open(str(tmp_path / "r")).calls()[0]
    tensors = call.inputs + call.outputs
    assert all(hasattr(t, "statistics") for t in tensors)  # found through the index
    assert (call._columns._statistic_arrays is None) == (mode == "stats")  # not even read without payloads
    assert {t.name: _statistics(t) for t in tensors} == expected and bool(parsed) == (mode == "stats")
    assert expected["u8"] == [0.0, 255.0, 127.5, pytest.approx(73.9, abs=0.1)]
    assert expected["label"] == [None] * 4
    if mode == "full":
        u8 = call.outputs[0]
        assert not _ruled_out_by_stats(u8, u8, SCALES) and not parsed
