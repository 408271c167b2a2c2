"""The fast diff paths (two threads per large pair, payloads read ahead) change no result."""
import threading

import numpy as np

import bmtrace
from bmtrace.compare.metrics import PARALLEL_ELEMENTS, array_metrics
from bmtrace.diff import prefetch


def test_two_threads_give_bit_identical_metrics():
    """A pair split over two threads has exactly the metrics of one thread, NaN and Inf included."""
    rng = np.random.default_rng(4)
    a = rng.standard_normal(PARALLEL_ELEMENTS + 12345).astype(np.float32)
    b = a + rng.standard_normal(a.size).astype(np.float32) * np.float32(1e-3)
    b[17], a[-5], b[PARALLEL_ELEMENTS // 2 + 3] = np.nan, np.inf, 40.0
    one, two = array_metrics(a, b, rtol=1e-3, threads=1), array_metrics(a, b, rtol=1e-3, threads=2)
    assert repr(one) == repr(two)
    assert two.max_abs_index == PARALLEL_ELEMENTS // 2 + 3


def _record(path, offset):
    rng = np.random.default_rng(0)
    frames = [rng.random((512, 640), dtype=np.float32) for _ in range(3)]
    with bmtrace.run(str(path)):
        for i, frame in enumerate(frames):
            with bmtrace.sample("s%d" % i):
                with bmtrace.trace_stage("infer") as st:
                    st.output(frame + np.float32(offset * i))
    return str(path)


def test_prefetched_diff_equals_plain_diff(tmp_path, monkeypatch):
    """Reading the next pair ahead on a helper thread gives the same result as reading in turn."""
    a, b = _record(tmp_path / "a", 0.0), _record(tmp_path / "b", 1e-4)
    loader_threads = set()
    original = prefetch._load_all

    def spy(tensors, *args):
        if tensors:
            loader_threads.add(threading.current_thread().name)
        return original(tensors, *args)

    monkeypatch.setattr(prefetch, "_load_all", spy)
    ahead = bmtrace.diff(a, b, explain=False).to_json()
    assert any(name.startswith("bmtrace-prefetch") for name in loader_threads)
    monkeypatch.setattr(prefetch, "PREFETCH_BYTES", 1 << 62)
    in_turn = bmtrace.diff(a, b, explain=False).to_json()
    for doc in (ahead, in_turn):
        doc.pop("elapsed_s", None)
    assert ahead["stages"] == in_turn["stages"] and ahead["verdict"] == in_turn["verdict"]
