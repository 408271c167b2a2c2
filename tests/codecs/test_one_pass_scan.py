"""Stats mode reads a large array once (hashing.scan: hash, min/max and sample per cache-sized piece,
non-contiguous arrays a piece at a time): what it records must be what a C-order copy gives, with the
hash exactly as hashing.py defines it ("dtype|shape|" then the digests of its 1 MiB blocks)."""
import hashlib

import numpy as np
import pytest

import bmtrace
from bmtrace.codecs import stats
from bmtrace.codecs.stats import SAMPLED_ELEMENTS, describe_array, sampled_positions
from bmtrace.store import hashing

ALGORITHMS = [hashing.SHA1, hashing.XXH3]


def _reference_hash(arr, alg):
    """The content hash written out from its definition, over a C-order copy."""
    data = np.ascontiguousarray(arr)
    raw = data.tobytes()
    block = max(hashing.BLOCK_BYTES // data.dtype.itemsize, 1) * data.dtype.itemsize
    blocks = [raw[i:i + block] for i in range(0, len(raw), block)] or [b""]
    header = ("%s|%s|" % (data.dtype.str, data.shape)).encode()
    if alg == hashing.XXH3:
        import xxhash

        return xxhash.xxh3_128_hexdigest(header + b"".join(xxhash.xxh3_128_digest(b) for b in blocks))
    outer = hashlib.sha1(header)
    for b in blocks:
        outer.update(hashlib.sha1(b).digest())
    return outer.hexdigest()[:32]


def _layouts():
    rng = np.random.default_rng(7)
    hwc = rng.standard_normal((640, 640, 3)).astype(np.float32)
    return {
        "transposed float32 (HWC memory, CHW view)": hwc.transpose(2, 0, 1),
        "contiguous uint8 image": rng.integers(0, 256, (1080, 1920, 3), dtype=np.uint8),
        "fortran float64": np.asfortranarray(rng.standard_normal((700, 900))),
        "every other uint8": rng.integers(0, 256, 5 << 20, dtype=np.uint8)[::2],
        "crop of an int16 image": rng.integers(-3000, 3000, (900, 1200), dtype=np.int16)[100:800, 7:1111:3],
        "big-endian float32 rows reversed": rng.standard_normal((600, 700)).astype(">f4")[::-1],
        "bool, transposed": (rng.standard_normal((500, 400)) > 0).T,
        "float16, strided": rng.standard_normal((800, 800)).astype(np.float16)[:, ::2],
        "just above the sample size, strided": rng.standard_normal(2 * (SAMPLED_ELEMENTS + 300))[::2],
        "12-byte items across block edges": np.zeros((300, 400), dtype=[("a", "<f8"), ("b", "<i4")])[:, ::3],
    }


@pytest.mark.parametrize("alg", ALGORITHMS)
@pytest.mark.parametrize("name", sorted(_layouts()))
def test_scan_hash_is_the_defined_hash_of_the_c_order_bytes(name, alg):
    if not hashing.available(alg):
        pytest.skip("xxhash not installed")
    arr = _layouts()[name]
    expected = _reference_hash(arr, alg)
    assert hashing.scan(arr, alg=alg) == expected
    assert hashing.content_hash(arr, alg) == expected


@pytest.mark.parametrize("alg", ALGORITHMS)
def test_hashes_of_fixed_arrays_do_not_change(alg):
    """Hashes recorded before the one-pass scan must still match: a diff compares hashes across runs."""
    if not hashing.available(alg):
        pytest.skip("xxhash not installed")
    transposed = (np.arange(640 * 640 * 3, dtype=np.float32) / 7.0).reshape(640, 640, 3).transpose(2, 0, 1)
    strided = (np.arange(5 << 20, dtype=np.int64) % 253).astype(np.uint8)[::2]
    fortran = np.asfortranarray((np.arange(1000 * 1500, dtype=np.float64) % 97).reshape(1000, 1500))
    expected = {
        hashing.SHA1: ["c2dfade9c6c3782b844cfa6bf8ebb9b9", "5d8c6bef2044d72b94f7f109518a677a",
                       "797d95cbc0bee2df55716e80e706bbf6", "3e4d767d7d20ec488c227830fc0e22ba"],
        hashing.XXH3: ["5b03eaefa5df0ed6c86f8f7d57dda23e", "fb20e4b2930338a5f302814f6cb133ca",
                       "a519c1f97f86bc7aadbd4b7a95ab48b3", "00e7f0eb59c5ff7cbd12eebd8c6fa561"],
    }[alg]
    arrays = [transposed, strided, fortran, np.asarray(5)]
    assert [hashing.content_hash(a, alg) for a in arrays] == expected
    assert [describe_array(a, sampled=True)[0] for a in arrays[:3]] == [hashing.content_hash(a) for a in arrays[:3]]


def _reference_stats(arr):
    """Stats-mode statistics from a C-order copy, as they were computed before the one-pass scan."""
    flat = np.ascontiguousarray(arr).reshape(-1)
    if flat.dtype.kind == "b":
        flat = flat.view(np.uint8)
    sample = np.concatenate([flat[s:s + 1024] for s in sampled_positions(flat.size)])
    expected = stats._finish([stats._partial(sample)])
    expected["min"], expected["max"] = flat.min().item(), flat.max().item()
    expected["stats_sample"] = int(sample.size)
    return expected


@pytest.mark.parametrize("name", sorted(n for n in _layouts() if "12-byte" not in n))
def test_one_pass_statistics_are_those_of_the_c_order_copy(name):
    arr = _layouts()[name]
    digest, got = describe_array(arr, sampled=True)
    assert digest == hashing.content_hash(np.ascontiguousarray(arr))
    assert got == _reference_stats(arr)
    assert (got, digest) == (describe_array(np.ascontiguousarray(arr), sampled=True)[1], digest)


@pytest.mark.filterwarnings("ignore::PendingDeprecationWarning")
def test_array_subclasses_are_described_as_their_plain_arrays():
    """np.matrix keeps two dimensions when reshaped: the scan must read it as a plain ndarray."""
    plain = np.random.default_rng(0).standard_normal((600, 700))
    for matrix in (np.asmatrix(plain), np.asmatrix(plain).T):
        assert describe_array(matrix, sampled=True) == describe_array(np.array(matrix), sampled=True)
        assert hashing.scan(matrix) == hashing.content_hash(np.array(matrix))


def test_signed_zero_extremes_are_those_of_the_whole_array_reduction():
    """min/max of 0.0 and -0.0 compare equal, so which one a reduction returns depends on its order:
    the recorded one must be the whole C-order array's, whatever the pieces gave."""
    rng = np.random.default_rng(3)
    relu = np.maximum(rng.standard_normal((400, 500)).astype(np.float32), 0)
    mixed = relu.copy()
    mixed[::3] = -0.0
    # Zeros of both signs in different pieces: numpy's vectorised min over the whole array and the
    # min of the pieces' minima were seen to return different zeros here.
    spread = np.full(361162, 2.0, np.float32)
    spread[[70611, 117274, 163394, 189987]] = 0.0
    spread[[85079, 176149, 220079, 343738]] = -0.0
    for arr in (relu, mixed, -relu, (-mixed).T, spread, -spread, spread.reshape(2, -1).T):
        flat = np.ascontiguousarray(arr).reshape(-1)
        got = describe_array(arr, sampled=True)[1]
        assert got["min"] == flat.min() and got["max"] == flat.max()
        assert np.signbit(got["min"]) == np.signbit(flat.min()) and np.signbit(got["max"]) == np.signbit(flat.max())


def test_nonfinite_values_of_a_strided_array_are_counted_exactly():
    arr = np.ones((600, 700), np.float32)
    arr[5, 10] = np.nan
    arr[300, 2], arr[301, 4] = np.inf, -np.inf
    view = arr[:, ::2]
    got = describe_array(view, sampled=True)[1]
    assert (got["nan_count"], got["inf_count"], got["min"], got["max"]) == (1, 2, 1.0, 1.0)
    assert "stats_sample" not in got and got == describe_array(np.ascontiguousarray(view))[1]


@bmtrace.trace_stage("normalize")
def normalize(img):
    return (img[..., ::-1].transpose(2, 0, 1).astype(np.float32) - 100) / 50  # non-contiguous


@bmtrace.trace_stage("infer")
def infer(x):
    return x.mean(axis=(1, 2))


@bmtrace.trace_stage("exact", mode="full")
def exact(x):
    return x


def test_stats_mode_records_a_non_contiguous_output_as_its_contiguous_copy(tmp_path):
    img = np.random.default_rng(5).integers(0, 256, (480, 640, 3), dtype=np.uint8)
    with bmtrace.run(tmp_path / "strided", mode="stats"):
        infer(normalize(img))
    contiguous = bmtrace.trace_stage("normalize")(lambda img: np.ascontiguousarray(normalize.__wrapped__(img)))
    with bmtrace.run(tmp_path / "copy", mode="stats"):
        infer(contiguous(img))
    strided, copied = (bmtrace.open_run(tmp_path / name) for name in ("strided", "copy"))
    out_a, out_b = (run.calls(stage="normalize")[0].output() for run in (strided, copied))
    assert out_a.sketch is not None
    fields = ("hash", "min", "max", "mean", "std", "nan_count", "inf_count", "stats_sample", "sketch")
    assert [getattr(out_a, f) for f in fields] == [getattr(out_b, f) for f in fields]
    assert out_a.hash == strided.calls(stage="infer")[0].input("x").hash  # the input is known content


def test_a_stats_mode_output_of_content_recorded_in_full_mode_keeps_what_the_fast_hash_found(tmp_path):
    """With the fast hash, content is looked up before it is described: a stats-mode output equal to
    an earlier full-mode record gets its exact statistics (SHA-1 describes first: sampled ones)."""
    arr = np.linspace(0, 1, 500000, dtype=np.float32)
    again = bmtrace.trace_stage("again", mode="stats")(lambda x: x + 0)
    with bmtrace.run(tmp_path / "run", mode="stats"):
        again(exact(arr))
    run = bmtrace.open_run(tmp_path / "run")
    out = run.calls(stage="again")[0].output()
    exact_out = run.calls(stage="exact")[0].output()
    assert exact_out.stats_sample is None
    if hashing.algorithm() == hashing.XXH3:
        assert out.stats_sample is None and out.mean == exact_out.mean
    else:
        assert out.stats_sample == SAMPLED_ELEMENTS


@bmtrace.trace_stage("consume")
def consume(x):
    return float(x[0, 0, 0])


def test_a_non_contiguous_input_gets_its_own_content_hash_even_after_changes_in_place(tmp_path):
    """Stats mode finds a transposed input recorded before by its memory (no gather into C order):
    the hash must still be that of the array's content, after the program changed it in place, and
    for another view of the same memory."""
    img = np.random.default_rng(6).integers(0, 256, (480, 640, 3), dtype=np.uint8)
    with bmtrace.run(tmp_path / "run", mode="stats"):
        x = normalize(img)
        consume(x)  # the same array: known
        x[1, 2, 3] += 1.0  # changed in place: new content
        consume(x)
        consume(x.transpose(0, 2, 1))  # the same memory seen through other strides
    run = bmtrace.open_run(tmp_path / "run")
    produced = run.calls(stage="normalize")[0].output()
    seen = [call.input("x") for call in run.calls(stage="consume")]
    expected = [hashing.content_hash(np.ascontiguousarray(a)) for a in (x, x.transpose(0, 2, 1))]
    assert seen[0].hash == produced.hash
    assert seen[1].hash == expected[0] != produced.hash
    assert seen[2].hash == expected[1] != expected[0]
    assert seen[1].min == float(np.min(x)) and seen[2].max == float(np.max(x))
