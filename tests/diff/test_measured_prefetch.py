"""Large pairs are measured on the diff's loader threads as they are read: the results must be exactly those
of measuring them on the comparing thread, and a measurement made for another tolerance is never used."""
import json

import numpy as np
import pytest

import bmtrace
from bmtrace.compare import ToleranceRules, pairs as compare_pairs
from bmtrace.compare.metrics import Measured, array_metrics
from bmtrace.diff import prefetch


def _record(path, samples, port):
    """decode -> resize -> infer, with frames large enough to load on the helper threads."""
    with bmtrace.run(str(path)):
        for i in range(samples):
            rng = np.random.default_rng(i)
            frame = rng.integers(0, 255, (480, 640, 3), dtype=np.uint8)
            with bmtrace.sample("img%d.jpg" % i):
                with bmtrace.trace_stage("decode") as st:
                    st.output(frame)
                with bmtrace.trace_stage("resize") as st:
                    st.input(img=frame)
                    small = frame[::2, ::2].astype(np.float32) / 255
                    st.output(small + np.float32(2e-3) if port else small)
                with bmtrace.trace_stage("infer") as st:
                    st.input(x=small)
                    st.output(feat=rng.standard_normal((256, 32, 32)).astype(np.float32) * (1.001 if port else 1))
    return str(path)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("measured")
    return _record(root / "a", 4, False), _record(root / "b", 4, True)


def _document(result):
    doc = result.to_json()
    doc.pop("elapsed_s", None)
    return json.dumps(doc, sort_keys=True, default=str)


def _measured_on_helpers(monkeypatch):
    """Count the pairs measured on the loader threads and those compare_arrays measures itself."""
    counts = {"helpers": 0, "comparing": 0}
    real_init = Measured.__init__

    def counting_init(self, *args, **kwargs):
        counts["helpers"] += 1
        real_init(self, *args, **kwargs)

    def counting_metrics(*args, **kwargs):
        counts["comparing"] += 1
        return array_metrics(*args, **kwargs)

    monkeypatch.setattr(Measured, "__init__", counting_init)
    monkeypatch.setattr(compare_pairs, "array_metrics", counting_metrics)
    return counts


@pytest.mark.parametrize("tol", [None, {"resize": {"atol": 1e-2, "rtol": 0.05}, "infer.feat": {"rtol": 1e-3}}])
def test_metrics_measured_ahead_are_those_of_the_comparing_thread(runs, monkeypatch, tol):
    """The same document, figure for figure, with the helpers measuring and without; and the helpers did
    measure the large pairs (under per-stage and per-tensor rtols too), so the comparing thread measured
    only the first one, which it reads itself."""
    counts = _measured_on_helpers(monkeypatch)
    ahead = bmtrace.diff(*runs, explain=False, tol=tol)
    assert counts["helpers"] == 7 and counts["comparing"] == 1, counts
    monkeypatch.setattr(prefetch, "_measure", lambda *args: None)
    counts["helpers"] = counts["comparing"] = 0
    here = bmtrace.diff(*runs, explain=False, tol=tol)
    assert counts["helpers"] == 0 and counts["comparing"] == 8
    assert _document(ahead) == _document(here)
    first = ahead.first_divergence
    assert (first.stage if first else None) == ("resize" if tol is None else None)  # the rules held


def test_a_measurement_for_another_rtol_or_other_arrays_is_not_used(monkeypatch):
    """compare_arrays takes measured metrics only for the very arrays, rtol and chunk they were made for."""
    rng = np.random.default_rng(1)
    a = rng.standard_normal(5000).astype(np.float32)
    b = a + np.float32(1e-3) * rng.standard_normal(5000).astype(np.float32)
    measured = Measured(a, b, 0.0)
    planted = measured.metrics
    planted.max_abs_diff = 123.0  # a figure no real measurement of this pair gives
    from bmtrace.compare import Tolerance

    assert compare_pairs.compare_arrays(a, b, Tolerance(atol=1e-3, rtol=0.0), measured=measured).max_abs_diff == 123.0
    for args, kwargs in (((a, b, Tolerance(atol=1e-3, rtol=0.1)), {}), ((a.copy(), b, Tolerance(atol=1e-3)), {}),
                         ((a, b, Tolerance(atol=1e-3)), {"chunk": 1000})):
        result = compare_pairs.compare_arrays(*args, measured=measured, **kwargs)
        assert result.max_abs_diff == pytest.approx(float(np.abs(a - b).max()))


def test_loaded_arrays_keep_their_tensors_alive(runs):
    """The arrays of a call pair are found by their tensors' ids: the Loaded mapping holds the tensors, so no
    other object can take one of those ids while the arrays are in use."""
    from bmtrace.diff.align import align
    from bmtrace.diff.engine import _open

    run_a, run_b = _open(runs[0]), _open(runs[1])
    pairs = align(run_a, run_b, {}).pairs
    fetcher = prefetch.Prefetcher(pairs, None, ToleranceRules())
    try:
        # (taken in order, as the diff takes them: the first pair is read on this thread, later ones ahead)
        loaded = [fetcher.take(i) for i, p in enumerate(pairs) if p.stage in ("resize", "infer")][-1]
        kept = {id(t) for item in loaded.tensors for t in item[:2]}
        assert set(loaded) <= kept and loaded.measured
        assert all(key[0] in kept and key[1] in kept for key in loaded.measured)
    finally:
        fetcher.close()


def test_helper_threads_never_share_a_read_buffer(runs, monkeypatch):
    """Two helper threads read at once from one buffer pool: a thread switch right after a buffer is handed
    out (forced here by a sleep) must not let the other thread read into the same buffer."""
    import time

    expected = _document(bmtrace.diff(*runs, explain=False))
    real_take = prefetch._Buffers.take

    def take_then_switch(self, size):
        buffer = real_take(self, size)
        time.sleep(0.002)
        return buffer

    monkeypatch.setattr(prefetch._Buffers, "take", take_then_switch)
    assert _document(bmtrace.diff(*runs, explain=False)) == expected


def test_closing_cancels_the_pairs_queued_ahead(runs, monkeypatch):
    """A diff that stops early (fail_fast) does not wait for helper jobs of pairs it will never compare:
    with one helper thread, the job queued behind the running one never runs."""
    from bmtrace.diff.align import align
    from bmtrace.diff.engine import _open

    monkeypatch.setattr(prefetch, "WORKERS", 1)
    pairs = align(_open(runs[0]), _open(runs[1]), {}).pairs
    fetcher = prefetch.Prefetcher(pairs, None, ToleranceRules())
    fetcher.take(0)
    jobs = [future for _, job in fetcher.ahead if isinstance(job, tuple) for future in job[1]]
    assert len(jobs) >= 2
    fetcher.close()
    assert all(future.done() for future in jobs) and jobs[-1].cancelled() and not fetcher.ahead
