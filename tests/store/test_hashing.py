"""The content hash: fast when xxhash is installed, SHA-1 otherwise, never compared across algorithms."""
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import bmtrace
from bmtrace.codecs.stats import describe_array
from bmtrace.store import hashing
from bmtrace.store.hashing import same_content

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
NO_XXHASH = "import sys; sys.modules['xxhash'] = None\n"  # makes `import xxhash` fail, as on a bare device

RECORD = textwrap.dedent("""
    import sys, numpy as np, bmtrace
    @bmtrace.trace_stage("s")
    def s(x):
        return x + 1
    with bmtrace.run(sys.argv[1]):
        s(np.arange(2000000, dtype=np.float32).reshape(1000, 2000))
""")


def _record(path, without_xxhash=False):
    code = (NO_XXHASH if without_xxhash else "") + RECORD
    subprocess.run([sys.executable, "-c", code, str(path)], check=True, env=dict(os.environ, PYTHONPATH=REPO))
    return bmtrace.open_run(path)


class _Rec:
    def __init__(self, h, alg):
        self.hash, self.hash_alg = h, alg


def test_same_content_only_compares_hashes_of_one_algorithm():
    """Equal hashes of one algorithm are True, different ones False; across algorithms or missing: None."""
    assert same_content(_Rec("ab", "xxh3-128"), _Rec("ab", "xxh3-128")) is True
    assert same_content(_Rec("ab", "sha1"), _Rec("cd", "sha1")) is False
    assert same_content(_Rec("ab", "sha1"), _Rec("ab", "xxh3-128")) is None
    assert same_content(_Rec(None, "sha1"), _Rec("ab", "sha1")) is None


@pytest.mark.parametrize("alg", ["sha1", "xxh3-128"])
def test_hash_is_identical_in_another_process(alg):
    """A fresh interpreter computes the same hash of the same array (multi-block, odd shape)."""
    if not hashing.available(alg):
        pytest.skip("xxhash not installed")
    arr = (np.arange(3 * 700 * 701, dtype=np.int32) % 251).reshape(3, 700, 701)
    code = ("import numpy as np; from bmtrace.store import hashing; "
            "arr = (np.arange(3 * 700 * 701, dtype=np.int32) %% 251).reshape(3, 700, 701); "
            "print(hashing.content_hash(arr, %r))" % alg)
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                           env=dict(os.environ, PYTHONPATH=REPO)).stdout.strip()
    assert other == hashing.content_hash(arr, alg) and len(other) == 32


def test_recorded_hash_is_the_content_hash():
    """The statistics pass (split over threads) gives the same hash as hashing.content_hash."""
    from concurrent.futures import ThreadPoolExecutor

    arr = np.random.default_rng(0).random((900, 1000))
    with ThreadPoolExecutor(2) as pool:
        assert describe_array(arr, pool=pool, parts=2)[0] == hashing.content_hash(arr) == describe_array(arr)[0]


def test_hash_distinguishes_dtype_and_shape():
    """The same bytes as another dtype or shape hash differently."""
    arr = np.arange(12, dtype=np.int32)
    hashes = {hashing.content_hash(a) for a in (arr, arr.reshape(3, 4), arr.view(np.float32))}
    assert len(hashes) == 3


def test_algorithm_is_recorded_per_run_and_per_call(small_run):
    """run.json and every call record the hash algorithm of the process that wrote them."""
    run = bmtrace.open_run(small_run)
    assert run.hash_alg == hashing.algorithm() == run.calls()[0].output().hash_alg


def test_run_without_xxhash_falls_back_to_sha1_and_verifies(tmp_path):
    """A process without xxhash records SHA-1 hashes, which still verify payloads on load."""
    run = _record(tmp_path / "run", without_xxhash=True)
    out = run.calls()[0].output()
    assert run.hash_alg == "sha1" and out.hash_alg == "sha1"
    assert out.hash == hashing.content_hash(out.load(verify=True), "sha1")


def test_runs_hashed_differently_never_compare_by_hash(tmp_path):
    """Identical content hashed with SHA-1 in one run and xxh3 in the other compares as unknown (None)."""
    if not hashing.available("xxh3-128"):
        pytest.skip("xxhash not installed")
    a = _record(tmp_path / "a").calls()[0].output()
    b = _record(tmp_path / "b", without_xxhash=True).calls()[0].output()
    assert (a.hash_alg, b.hash_alg) == ("xxh3-128", "sha1")
    assert same_content(a, b) is None
    assert np.array_equal(a.load(), b.load())


def test_the_fast_hash_is_used_whenever_xxhash_is_importable():
    """xxh3-128 (its speed against SHA-1: benchmarks/bench_store.py) is the algorithm of this process when
    xxhash imports, and a content hash without an algorithm named is that algorithm's."""
    if not hashing.available("xxh3-128"):
        pytest.skip("xxhash not installed")
    arr = np.arange(3 << 20, dtype=np.uint8)
    assert hashing.algorithm() == "xxh3-128"
    assert hashing.content_hash(arr) == hashing.content_hash(arr, "xxh3-128") != hashing.content_hash(arr, "sha1")
