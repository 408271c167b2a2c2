"""Values through codecs and store: every numpy dtype, torch, PIL, nested containers, odd objects."""
import numpy as np
import pytest
from hypothesis import given, settings, HealthCheck
from hypothesis.extra import numpy as hnp

import bmtrace


def _record_and_read(tmp_path, value, name="v"):
    with bmtrace.run(tmp_path / "run", overwrite=True):
        with bmtrace.trace_stage("s") as handle:
            handle.input(**{name: value})
    return bmtrace.open_run(tmp_path / "run").calls()[0].inputs


@pytest.mark.parametrize("arr", [
    np.array([True, False, True]),
    np.arange(12, dtype=np.float16).reshape(3, 4),
    np.arange(-5, 5, dtype=np.int8),
    np.arange(6, dtype=np.uint16).reshape(2, 3),
    np.arange(24, dtype=np.float32).reshape(2, 3, 4)[:, ::2, 1:],  # non-contiguous
    np.array(3.25, dtype=np.float64),  # 0-d
    np.zeros((0, 3), dtype=np.float32),  # empty
    np.array([1 + 2j, 3 - 1j]),
    np.arange(4, dtype=np.int64).reshape(2, 2).T,  # Fortran order
], ids=lambda a: "%s%s" % (a.dtype, a.shape))
def test_numpy_arrays_round_trip_exactly(tmp_path, arr):
    """Every dtype and layout reads back bit-identical with dtype and shape kept."""
    (tensor,) = _record_and_read(tmp_path, arr)
    loaded = tensor.load()
    assert loaded.dtype == arr.dtype and loaded.shape == arr.shape
    np.testing.assert_array_equal(loaded, arr)
    assert tensor.dtype == arr.dtype.name and tensor.shape == arr.shape


def test_statistics_match_numpy(tmp_path):
    """min/max/mean/std follow numpy; NaN and Inf are counted and left out of the statistics."""
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (64, 48, 3), dtype=np.uint8)
    values = np.array([1.0, np.nan, np.inf, -np.inf, 3.0, np.nan])
    img_t, val_t = _record_and_read_many(tmp_path, img=img, values=values)
    assert (img_t.min, img_t.max) == (int(img.min()), int(img.max()))
    assert img_t.mean == pytest.approx(img.mean()) and img_t.std == pytest.approx(img.std(), rel=1e-5)
    assert (val_t.nan_count, val_t.inf_count) == (2, 2)
    assert (val_t.min, val_t.max, val_t.mean) == (1.0, 3.0, 2.0)


def _record_and_read_many(tmp_path, **values):
    with bmtrace.run(tmp_path / "run", overwrite=True):
        with bmtrace.trace_stage("s") as handle:
            handle.input(**values)
    return bmtrace.open_run(tmp_path / "run").calls()[0].inputs


def test_hash_depends_on_content_not_memory_layout(tmp_path):
    """Equal content gives equal hashes whatever the strides; one changed element changes it."""
    base = np.arange(20, dtype=np.float32).reshape(4, 5)
    strided = np.asfortranarray(base)
    changed = base.copy()
    changed[3, 4] += 1
    a, b, c = _record_and_read_many(tmp_path, a=base, b=strided, c=changed)
    assert a.hash == b.hash != c.hash


def test_nested_containers_name_each_leaf_by_path(tmp_path):
    """dict/list/tuple leaves are named like out['17'] and args[1][0]."""
    value = {"17": np.ones(2), "boxes": [np.zeros((1, 4)), (np.ones(1), None)], 3: "text"}
    names = [t.name for t in _record_and_read(tmp_path, value, name="out")]
    assert names == ["out['17']", "out['boxes'][0]", "out['boxes'][1][0]", "out['boxes'][1][1]", "out[3]"]


def test_python_scalars_strings_bytes_none(tmp_path):
    """Scalars keep their value, strings and None are recorded, bytes become a uint8 payload."""
    tensors = _record_and_read_many(tmp_path, i=7, f=0.5, b=True, s="BGR", raw=b"\x00\xff", n=None)
    by_name = {t.name: t for t in tensors}
    assert by_name["i"].value == 7 and by_name["f"].value == 0.5 and by_name["b"].value is True
    assert by_name["s"].kind == "str" and by_name["s"].value == "BGR"
    assert by_name["raw"].kind == "bytes" and by_name["raw"].load().tolist() == [0, 255]
    assert by_name["n"].kind == "none"


def test_unknown_objects_record_type_and_repr(tmp_path):
    """An object bmtrace does not know is recorded as its type name and a truncated repr."""
    class Opaque:
        def __repr__(self):
            return "Opaque(" + "x" * 500 + ")"

    (tensor,) = _record_and_read(tmp_path, Opaque())
    assert tensor.kind == "object" and "Opaque" in tensor.note
    assert tensor.value.startswith("Opaque(") and len(tensor.value) < 300


def test_value_whose_conversion_fails_is_noted_and_skipped(tmp_path):
    """A value whose __array__ raises is noted; the stage and the other values are still recorded."""
    class Broken:
        def __array__(self, *args, **kwargs):
            raise RuntimeError("device lost")

    bad, good = _record_and_read_many(tmp_path, bad=Broken(), good=np.ones(1))
    assert bad.kind == "object" and "device lost" in bad.note
    assert good.load().tolist() == [1.0]


def test_torch_tensors_are_detached_and_keep_dtype(tmp_path):
    """torch tensors are stored detached on CPU with their dtype; bfloat16 becomes float32 with a note."""
    torch = pytest.importorskip("torch")
    weights = torch.ones(2, 3, requires_grad=True) * 2
    half = torch.arange(4, dtype=torch.float16)
    bf = torch.tensor([1.5, 2.5], dtype=torch.bfloat16)
    w, h, b = _record_and_read_many(tmp_path, w=weights, h=half, bf=bf)
    assert w.dtype == "float32" and w.load().tolist() == [[2.0] * 3] * 2 and w.meta["framework"] == "torch"
    assert h.dtype == "float16" and h.load().tolist() == [0, 1, 2, 3]
    assert b.dtype == "float32" and "bfloat16" in b.note and b.load().tolist() == [1.5, 2.5]


def test_pil_images_keep_pixels_and_mode(tmp_path):
    """PIL images are stored as their pixel array with mode and layout in meta."""
    Image = pytest.importorskip("PIL.Image")
    pixels = np.random.default_rng(1).integers(0, 256, (5, 7, 3), dtype=np.uint8)
    (tensor,) = _record_and_read(tmp_path, Image.fromarray(pixels))
    np.testing.assert_array_equal(tensor.load(), pixels)
    assert tensor.meta["mode"] == "RGB" and tensor.meta["layout"] == "HWC"


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(hnp.arrays(dtype=hnp.scalar_dtypes(), shape=hnp.array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=5)))
def test_any_numeric_array_round_trips(tmp_path, arr):
    """Property: any numpy scalar dtype and shape comes back bit-identical (NaN payloads included)."""
    (tensor,) = _record_and_read(tmp_path, arr)
    loaded = tensor.load()
    assert loaded.dtype == arr.dtype and loaded.shape == arr.shape
    assert loaded.tobytes() == np.ascontiguousarray(arr).tobytes()


def _fake_sail():
    """tests/fakes/fake_sail.py: a fake of sail's documented API (sail cannot be installed off-device)."""
    import importlib.util
    import os

    path = os.path.join(os.path.dirname(os.path.dirname(__file__)), "fakes", "fake_sail.py")
    spec = importlib.util.spec_from_file_location("fake_sail", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_sail_objects_are_recognised_without_importing_sail(tmp_path):
    """sail Tensor and BMImage (fake of the documented API) are recorded as arrays with format/layout meta."""
    import sys

    sail = _fake_sail()
    bgr = np.random.default_rng(2).integers(0, 256, (6, 8, 3), dtype=np.uint8)
    tensor = sail.Tensor(np.arange(6, dtype=np.float32).reshape(1, 6))
    planar = sail.BMImage(bgr, sail.Format.FORMAT_BGR_PLANAR)
    t, img = _record_and_read_many(tmp_path, t=tensor, img=planar)
    assert t.load().tolist() == [[0, 1, 2, 3, 4, 5]] and t.dtype == "float32"
    np.testing.assert_array_equal(img.load(), bgr.transpose(2, 0, 1))
    assert "PLANAR" in str(img.meta) and "sophon.sail" not in sys.modules
