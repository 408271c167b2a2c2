"""sail_to_array on the sail FAKE (tests/fakes/fake_sail.py), and sail values through the recorder."""
import numpy as np
import pytest

import bmtrace
import fake_sail as sail
from bmtrace.sophon import sail_to_array


@pytest.fixture
def bgr():
    rng = np.random.RandomState(0)
    return rng.randint(0, 256, (6, 10, 3)).astype(np.uint8)


def test_float32_tensor_round_trips():
    """A float32 Tensor converts to the same array, with its sail dtype in meta."""
    data = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    array, meta = sail_to_array(sail.Tensor(data, sail.Dtype.BM_FLOAT32))
    np.testing.assert_array_equal(array, data)
    assert meta["sail_dtype"] == "BM_FLOAT32" and meta["sail_type"] == "Tensor"


def test_fp16_tensor_bits_are_viewed_as_float16():
    """FP16 Tensors (uint16 from asnumpy) come back as the float16 values."""
    values = np.array([0.5, -2.25, 65504.0, 1e-3], np.float16)
    tensor = sail.Tensor(values.view(np.uint16), sail.Dtype.BM_FLOAT16)
    assert tensor.asnumpy().dtype == np.uint16  # what sail gives
    array, _ = sail_to_array(tensor)
    assert array.dtype == np.float16
    np.testing.assert_array_equal(array, values)


def test_bf16_tensor_bits_become_float32_values():
    """BF16 Tensors convert to float32 holding exactly the bf16 values."""
    values = np.array([1.0, -3.5, 0.15625, 256.0], np.float32)  # all exactly representable in bf16
    bits = (values.view(np.uint32) >> 16).astype(np.uint16)
    array, meta = sail_to_array(sail.Tensor(bits, sail.Dtype.BM_BFLOAT16))
    assert array.dtype == np.float32 and meta["converted_from"] == "bfloat16"
    np.testing.assert_array_equal(array, values)


def test_packed_bgr_image_is_hwc_bgr(bgr):
    """A packed BGR BMImage gives (h, w, 3) with layout HWC and colour BGR."""
    array, meta = sail_to_array(sail.BMImage(bgr, sail.Format.FORMAT_BGR_PACKED))
    np.testing.assert_array_equal(array, bgr)
    assert (meta["layout"], meta["color"], meta["planar"]) == ("HWC", "BGR", False)
    assert (meta["width"], meta["height"]) == (10, 6)


def test_planar_rgb_image_is_chw_rgb(bgr):
    """A planar RGB BMImage gives (3, h, w) with layout CHW and colour RGB."""
    array, meta = sail_to_array(sail.BMImage(bgr, sail.Format.FORMAT_RGB_PLANAR))
    np.testing.assert_array_equal(array, bgr.transpose(2, 0, 1))
    assert (meta["layout"], meta["color"], meta["planar"]) == ("CHW", "RGB", True)
    assert meta["format"] == "FORMAT_RGB_PLANAR"


def test_gray_image_is_one_channel_chw(bgr):
    """A GRAY BMImage gives (1, h, w), colour GRAY."""
    gray = bgr[..., 0]
    array, meta = sail_to_array(sail.BMImage(gray, sail.Format.FORMAT_GRAY))
    assert array.shape == (1, 6, 10) and meta["color"] == "GRAY" and meta["layout"] == "CHW"


def test_nv12_image_stays_flat_with_its_size():
    """An NV12 BMImage stays a flat array; meta keeps the format name and the pixel size."""
    yuv = np.arange(9 * 10, dtype=np.uint8).reshape(9, 10)  # 6 rows of Y + 3 rows of interleaved UV
    array, meta = sail_to_array(sail.BMImage(yuv, sail.Format.FORMAT_NV12))
    assert array.ndim == 1 and array.size == 90
    assert meta["layout"] == "flat" and meta["color"] == "NV12" and (meta["width"], meta["height"]) == (10, 6)


def test_image_array_stacks_to_nchw(bgr):
    """A BMImageArray4D of planar images stacks to (4, 3, h, w) with layout NCHW."""
    batch = sail.BMImageArray4D()
    for i in range(4):
        batch[i] = sail.BMImage(bgr + i, sail.Format.FORMAT_BGR_PLANAR)
    array, meta = sail_to_array(batch)
    assert array.shape == (4, 3, 6, 10) and meta["layout"] == "NCHW" and meta["batch"] == 4
    np.testing.assert_array_equal(array[2], (bgr + 2).transpose(2, 0, 1))


def test_other_objects_are_not_sail():
    """numpy arrays, torch tensors and plain objects are left to other codecs."""
    import torch

    assert sail_to_array(np.zeros(3)) is None
    assert sail_to_array(torch.zeros(3)) is None
    assert sail_to_array(object()) is None


def test_recorded_bmimage_keeps_format_meta(tmp_path, bgr):
    """A BMImage passed to a traced stage is recorded as its array with the format meta."""
    @bmtrace.trace_stage("decode")
    def decode():
        return sail.BMImage(bgr, sail.Format.FORMAT_BGR_PLANAR)

    with bmtrace.run(tmp_path / "run", side="port"):
        decode()
    (call,) = bmtrace.open_run(tmp_path / "run").calls(stage="decode")
    (out,) = call.outputs
    np.testing.assert_array_equal(out.load(), bgr.transpose(2, 0, 1))
    assert out.meta["format"] == "FORMAT_BGR_PLANAR" and out.meta["layout"] == "CHW"


def test_sophon_package_imports_only_stdlib_numpy_wrapt():
    """`import bmtrace.sophon` (used while recording on devices) loads no third-party module but numpy and wrapt."""
    import json
    import subprocess
    import sys

    def top_level_modules(statement):
        code = "import sys, json%s; print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))" % statement
        return set(json.loads(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                             check=True).stdout))

    # Whatever site-packages' .pth files load at startup is not ours: subtract a bare interpreter.
    added = top_level_modules(", bmtrace.sophon") - top_level_modules("")
    third_party = {m for m in added if m not in sys.stdlib_module_names and not m.startswith("_")}
    assert third_party <= {"numpy", "wrapt", "bmtrace"}, third_party
