"""Memory stays bounded by the largest tensor pair, whatever the number of samples."""
import tracemalloc
import weakref

import numpy as np
import pytest

import bmtrace
from bmtrace import diff
from bmtrace.store import reader
from .diff_helpers import record

N_SAMPLES = 2000

# Records 4 runs of 2000 samples and traces allocations of two diffs: ~45 s on a busy machine.
pytestmark = pytest.mark.slow


def _tiny_pipeline(shape, offset):
    rng = np.random.default_rng(7)
    base = rng.random(shape, dtype=np.float32)

    def run(key):
        with bmtrace.trace_stage("infer") as st:
            st.output(base + np.float32(offset + 1e-6 * int(key[1:])))

    return run


@pytest.fixture(scope="module")
def many(tmp_path_factory):
    """Two pairs of runs of N_SAMPLES samples: 4 KiB tensors and 32 KiB tensors."""
    root = tmp_path_factory.mktemp("many")
    keys = ["s%05d" % i for i in range(N_SAMPLES)]
    out = {}
    for label, shape in (("small", (32, 32)), ("large", (64, 128))):
        out[label] = (record(root / (label + "_a"), keys, _tiny_pipeline(shape, 0.0)),
                      record(root / (label + "_b"), keys, _tiny_pipeline(shape, 1e-4)))
    return out


def _peak_during_diff(run_a, run_b):
    opened = bmtrace.open_run(run_a), bmtrace.open_run(run_b)
    for run in opened:
        run.calls()  # parse the journals first: their size grows with the number of calls anyway
    tracemalloc.start()
    try:
        result = diff(*opened, explain=False)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert result, str(result)
    assert len(result.stages) == N_SAMPLES
    return peak


def test_peak_memory_does_not_grow_with_payload_size(many):
    """8x larger tensors over 2000 samples raise the peak by far less than the extra payload."""
    small = _peak_during_diff(*many["small"])
    large = _peak_during_diff(*many["large"])
    pair_bytes = 2 * 64 * 128 * 4
    extra_payload = 2 * N_SAMPLES * (64 * 128 - 32 * 32) * 4  # 2 runs, all samples: ~113 MB
    # allowance: a few pairs and their float64 working chunks, far below the extra payload
    assert large - small < 16 * pair_bytes, (small, large)
    assert large - small < extra_payload / 100


def test_at_most_one_pair_of_arrays_is_alive(many, monkeypatch):
    """Loaded payloads are released after their pair; only the next pair loads ahead (prefetch)."""
    live = set()
    peak = [0]
    original = reader.Tensor.load

    def tracking_load(self):
        array = original(self)
        key = id(array)
        live.add(key)
        peak[0] = max(peak[0], len(live))
        weakref.finalize(array, live.discard, key)
        return array

    monkeypatch.setattr(reader.Tensor, "load", tracking_load)
    result = diff(*many["small"], explain=False)
    assert result
    assert peak[0] <= 4
