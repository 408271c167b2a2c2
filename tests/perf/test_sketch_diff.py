"""Stats-mode runs carry sketches; a stats-mode diff finds what min/max/mean/std cannot see."""
import json
import os

import numpy as np

import bmtrace
from bmtrace.codecs.sketch import positions, sketch
from bmtrace.compare import Status

H, W = 96, 128  # larger than a sketch, so the diff works from a sample, not from every element


def _image(seed=3):
    return np.random.default_rng(seed).integers(0, 256, (H, W, 3), dtype=np.uint8)


def _pipeline(port_bug=None):
    """decode -> to_rgb -> normalize; ``port_bug`` rewrites to_rgb's output in the port."""

    @bmtrace.trace_stage("decode")
    def decode(seed):
        return _image(seed)

    @bmtrace.trace_stage("to_rgb")
    def to_rgb(img):
        out = img.copy()
        return port_bug(out) if port_bug else out

    @bmtrace.trace_stage("normalize")
    def normalize(img):
        return (img.astype(np.float32) / np.float32(255.0) - np.float32(0.5)).transpose(2, 0, 1).copy()

    def run(seed):
        return normalize(to_rgb(decode(seed)))
    return run


def _record(path, port_bug=None, program=None):
    """Record ``program`` (default: ``_pipeline(port_bug)``) over two images in stats mode."""
    program = program or _pipeline(port_bug)
    with bmtrace.run(str(path), side=os.path.basename(str(path)), mode="stats"):
        for seed in (1, 2):
            with bmtrace.sample("img%d" % seed):
                program(seed)
    return str(path)


def _output(result, stage="to_rgb"):
    """The output comparison of ``stage`` in the first sample."""
    entry = next(e for e in result.stages if e.stage == stage)
    return next(t for t in entry.tensors if t.role == "output")


def test_channel_swap_is_the_first_divergence_in_stats_mode(tmp_path):
    """R and B swapped at to_rgb: stats agree, the sketch proves the divergence and names the swap."""
    result = bmtrace.diff(_record(tmp_path / "a"), _record(tmp_path / "b", lambda x: x[..., ::-1].copy()))
    assert result.first_divergence.stage == "to_rgb"
    out = _output(result)
    assert out.status == Status.DIVERGED and out.basis == "sketch"
    assert out.max_abs_diff > 0 and out.is_lower_bound()
    assert any("(2, 1, 0)" in note for note in out.notes)


def test_layout_scramble_is_the_first_divergence_in_stats_mode(tmp_path):
    """CHW bytes read back as HWC (same shape, same values, other order) diverge at to_rgb."""
    scramble = lambda x: np.ascontiguousarray(x.transpose(2, 0, 1)).reshape(x.shape)
    result = bmtrace.diff(_record(tmp_path / "a"), _record(tmp_path / "b", scramble))
    assert result.first_divergence.stage == "to_rgb"
    out = _output(result)
    assert out.status == Status.DIVERGED and out.basis == "sketch"
    assert any("another order" in note for note in out.notes)


def test_noise_is_not_called_a_reordering(tmp_path):
    """+-1 grey level on a tenth of the pixels: normalize's float output differs beyond its tolerance
    while its statistics agree, but its values at the same positions are close: no "another order"."""
    def noise(x):
        flip = np.random.default_rng(0).random(x.shape) < 0.1
        return np.where(flip, np.clip(x.astype(np.int16) + 1, 0, 255), x).astype(np.uint8)

    result = bmtrace.diff(_record(tmp_path / "a"), _record(tmp_path / "b", noise))
    entry = next(e for e in result.stages if e.stage == "normalize")
    out = next(t for t in entry.tensors if t.role == "output")
    assert out.status == Status.DIVERGED and out.basis == "sketch"
    assert any("max abs diff >=" in note for note in out.notes)
    assert not any("another order" in note for note in out.notes)


def test_sampled_position_is_a_real_difference(tmp_path):
    """The reported position holds the reported difference in the actual arrays."""
    bug = lambda x: x[..., ::-1].copy()
    result = bmtrace.diff(_record(tmp_path / "a"), _record(tmp_path / "b", bug))
    out = _output(result)
    a = _image(1)
    b = bug(a)
    index = tuple(out.max_abs_index)
    assert abs(int(a[index]) - int(b[index])) == out.max_abs_diff


def test_constant_offset_is_named(tmp_path):
    """An offset of +3 grey levels everywhere is a divergence whose note names the offset."""
    offset = lambda x: (x.astype(np.int16) // 2 + 3).astype(np.uint8)
    base = lambda x: (x.astype(np.int16) // 2).astype(np.uint8)
    result = bmtrace.diff(_record(tmp_path / "a", base), _record(tmp_path / "b", offset))
    out = _output(result)
    assert out.status == Status.DIVERGED
    assert any("constant offset" in note and "+3" in note for note in out.notes)


def _scaled_pipeline(divide):
    """decode -> normalize, where normalize divides by 255 only when ``divide`` (the port forgot it)."""

    @bmtrace.trace_stage("decode")
    def decode(seed):
        return _image(seed)

    @bmtrace.trace_stage("normalize")
    def normalize(img):
        x = img.astype(np.float32)
        return (x / np.float32(255.0) if divide else x).transpose(2, 0, 1).copy()

    return lambda seed: normalize(decode(seed))


def test_constant_scale_is_named(tmp_path):
    """The port forgot /255: its normalize output is 255 times A's at every sampled element, and the note
    says so (both ways round); a pair that differs otherwise gets no such note."""
    a = _record(tmp_path / "a", program=_scaled_pipeline(True))
    b = _record(tmp_path / "b", program=_scaled_pipeline(False))
    for runs, factor in (((a, b), "255 times"), ((b, a), "0.00392157 times")):
        out = _output(bmtrace.diff(*runs, explain=False), "normalize")
        assert out.status == Status.DIVERGED and out.basis == "sketch"
        assert any(factor + " A's (a constant scale: one side divides by 255" in note for note in out.notes)
    same_steps = _scaled_pipeline(True)
    other = _record(tmp_path / "c", program=lambda seed: same_steps(seed + 10))  # other images, same steps
    out = _output(bmtrace.diff(a, other, explain=False), "normalize")
    assert out.status == Status.DIVERGED
    assert not any("constant scale" in note for note in out.notes)


def test_identical_stats_runs_stay_equal(tmp_path):
    """Two identical stats-mode runs are EQUAL everywhere (the sketch never invents a difference)."""
    result = bmtrace.diff(_record(tmp_path / "a"), _record(tmp_path / "b"))
    assert result and result.verdict == "ALIGNED"
    assert {t.status for e in result.stages for t in e.tensors} == {Status.EQUAL}


def test_agreeing_sketch_with_other_hash_is_unverified_with_estimates(tmp_path):
    """A 1e-5 change everywhere: hashes differ, the sketch agrees: UNVERIFIED with estimated figures."""
    def program(offset):
        def run(key):
            with bmtrace.trace_stage("infer") as st:
                st.output(np.linspace(0, 1, 50000) + offset)
        return run

    runs = []
    for name, offset in (("a", 0.0), ("b", 1e-5)):
        with bmtrace.run(str(tmp_path / name), mode="stats"):
            with bmtrace.sample("s"):
                program(offset)("s")
        runs.append(str(tmp_path / name))
    (tensor,) = bmtrace.diff(*runs).stages[0].tensors
    assert tensor.status == Status.UNVERIFIED and tensor.basis == "sketch"
    assert abs(tensor.mean_abs_diff - 1e-5) < 1e-9 and tensor.cosine > 0.999999
    assert tensor.reason() == "hash differs, sketch agrees"


def test_journal_line_stays_compact(tmp_path):
    """A stats-mode record of a 1080p image adds under 4 KB to its journal line."""
    frame = np.random.default_rng(0).integers(0, 256, (1080, 1920, 3), dtype=np.uint8)
    with bmtrace.run(str(tmp_path / "r"), mode="stats"):
        with bmtrace.trace_stage("decode") as st:
            st.output(frame)
    (journal,) = os.listdir(str(tmp_path / "r" / "journal"))
    with open(str(tmp_path / "r" / "journal" / journal)) as f:
        line = f.readline()
    assert len(line) < 4000
    assert json.loads(line)["outputs"][0]["sketch"]["k"] >= 1000


def test_positions_depend_only_on_shape():
    """Both runs sample the same elements, and a shorter sketch is a prefix of a longer one."""
    shape = (7, 300, 5)
    assert np.array_equal(positions(shape, 2048), positions((7, 300, 5), 2048))
    assert np.array_equal(positions(shape, 2048)[:256], positions(shape, 256))
    assert positions(shape, 1024).max() < 7 * 300 * 5


def test_sketch_values_match_the_array():
    """The stored values are the array's values at the documented positions."""
    import base64

    arr = np.random.default_rng(5).standard_normal((40, 50, 3)).astype(np.float32)
    doc = sketch(arr)
    values = np.frombuffer(base64.b64decode(doc["values"]), dtype=doc["dtype"])
    assert np.array_equal(values, arr.reshape(-1)[positions(arr.shape, doc["k"])])
    assert doc["channel_axis"] == 2 and len(doc["channels"]["mean"]) == 3


def test_malformed_sketch_is_ignored(tmp_path):
    """A tampered sketch is not trusted: the pair falls back to statistics alone."""
    from bmtrace.compare.sketches import sketch_evidence

    class Rec:
        def __init__(self, doc):
            self.sketch = doc

    good = sketch(np.arange(5000, dtype=np.float32))
    bad = dict(good, values=good["values"][:-8])
    assert sketch_evidence(Rec(good), Rec(bad), (5000,)) is None
    assert sketch_evidence(Rec(good), Rec(dict(good, dtype="O")), (5000,)) is None
    assert sketch_evidence(Rec(good), Rec(good), (5000,)).bound == 0.0


def test_only_outputs_carry_sketches(tmp_path):
    """Inputs (mostly an earlier stage's output) are journalled without a sketch, outputs with one."""
    with bmtrace.run(str(tmp_path / "r"), mode="stats"):
        with bmtrace.trace_stage("scale") as st:
            st.input(x=np.arange(5000, dtype=np.float32))
            st.output(np.arange(5000, dtype=np.float32) * 2)
    (call,) = bmtrace.open_run(str(tmp_path / "r")).calls()
    assert call.inputs[0].sketch is None and call.outputs[0].sketch["k"] == 256
