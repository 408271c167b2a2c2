"""FAKE of the sail Python API (sophgo/sophon-sail v3.10), for tests only: it is not sail.

sail only installs on SOPHON devices, so bmtrace's sail support is tested against this small fake
that follows the documented behaviour (see /work/shared/design/SOPHON.md, "sail Python API"):

- ``Engine.process(graph, {name: ndarray})`` quantises float inputs of INT8 inputs with
  ``round(x * input_scale)`` clamped to [-127, 127] (zero point ignored), returns float32 outputs,
  integer outputs multiplied by output_scale, in a dict whose keys are sorted by name (sail builds it
  from a C++ std::map), not in bmodel order.
- ``Engine.process(graph, {name: Tensor}, {name: Tensor})`` fills the output Tensors with raw values.
- ``Tensor.asnumpy()`` returns FP16/BF16 data as uint16 bit patterns.
- ``BMImage.asnumpy()`` keeps the pixel format: packed (h, w, 3), planar (3, h, w), GRAY (1, h, w),
  YUV/NV formats one flat array.
- ``BMImageArray{N}D`` holds N BMImages, indexable.

Use ``install(monkeypatch)`` to make ``import sophon.sail`` return this module.
"""
from __future__ import annotations

import enum
import sys
import types

import numpy as np

FAKE = True  # lets a test assert it is not talking to real sail


class Dtype(enum.IntEnum):
    """sail.Dtype (bm_data_type_t codes)."""

    BM_FLOAT32 = 0
    BM_FLOAT16 = 1
    BM_INT8 = 2
    BM_UINT8 = 3
    BM_INT16 = 4
    BM_UINT16 = 5
    BM_INT32 = 6
    BM_UINT32 = 7
    BM_BFLOAT16 = 8


class Format(enum.Enum):
    """sail.Format: only the names matter to bmtrace (it never relies on the integer values)."""

    FORMAT_YUV420P = "yuv420p"
    FORMAT_NV12 = "nv12"
    FORMAT_RGB_PLANAR = "rgb_planar"
    FORMAT_BGR_PLANAR = "bgr_planar"
    FORMAT_RGB_PACKED = "rgb_packed"
    FORMAT_BGR_PACKED = "bgr_packed"
    FORMAT_GRAY = "gray"


class IOMode(enum.Enum):
    SYSI = 0
    SYSO = 1
    SYSIO = 2
    DEVIO = 3


_NUMPY = {
    Dtype.BM_FLOAT32: np.float32, Dtype.BM_FLOAT16: np.uint16, Dtype.BM_BFLOAT16: np.uint16,
    Dtype.BM_INT8: np.int8, Dtype.BM_UINT8: np.uint8, Dtype.BM_INT16: np.int16,
    Dtype.BM_UINT16: np.uint16, Dtype.BM_INT32: np.int32, Dtype.BM_UINT32: np.uint32,
}


class Tensor:
    """sail.Tensor over host memory."""

    def __init__(self, shape_or_array, dtype=Dtype.BM_FLOAT32):
        if isinstance(shape_or_array, np.ndarray):
            self._dtype = dtype
            self._data = np.array(shape_or_array, dtype=_NUMPY[dtype])
        else:
            self._dtype = dtype
            self._data = np.zeros(tuple(shape_or_array), dtype=_NUMPY[dtype])

    def shape(self):
        return list(self._data.shape)

    def dtype(self):
        return self._dtype

    def asnumpy(self):
        return self._data.copy()

    def update_data(self, data):
        self._data[...] = np.asarray(data).astype(self._data.dtype).reshape(self._data.shape)


class BMImage:
    """sail.BMImage holding 8-bit pixels; built from an (h, w, 3) BGR or RGB array, a gray (h, w)
    array, or flat YUV bytes."""

    def __init__(self, pixels, fmt=Format.FORMAT_BGR_PACKED):
        self._format = fmt
        pixels = np.asarray(pixels, np.uint8)
        name = fmt.name
        if name.startswith(("FORMAT_YUV", "FORMAT_NV")):
            self._height, self._width = pixels.shape[0] * 2 // 3, pixels.shape[1]
            self._data = pixels.reshape(-1).copy()
        elif name == "FORMAT_GRAY":
            self._height, self._width = pixels.shape
            self._data = pixels[None].copy()
        elif "PLANAR" in name:
            self._height, self._width = pixels.shape[:2]
            self._data = np.ascontiguousarray(pixels.transpose(2, 0, 1))
        else:
            self._height, self._width = pixels.shape[:2]
            self._data = pixels.copy()

    def width(self):
        return self._width

    def height(self):
        return self._height

    def format(self):
        return self._format

    def dtype(self):
        return "DATA_TYPE_EXT_1N_BYTE"

    def asnumpy(self):
        return self._data.copy()


class BMImageArray4D:
    """sail.BMImageArray4D: a batch of four BMImages."""

    def __init__(self):
        self._images = [None] * 4

    def __getitem__(self, index):
        return self._images[index]

    def __setitem__(self, index, image):
        self._images[index] = image


class FakeNet:
    """What a fake bmodel holds: IO names/shapes/dtypes/scales and a function on raw device arrays.

    inputs: [(name, shape, Dtype, scale)]; outputs: [(name, shape, Dtype, scale)] in bmodel order;
    fn(list of raw inputs) -> list of raw outputs in bmodel order.
    """

    def __init__(self, name, inputs, outputs, fn):
        self.name, self.inputs, self.outputs, self.fn = name, inputs, outputs, fn


class Engine:
    """sail.Engine over a FakeNet instead of a bmodel file."""

    def __init__(self, net, tpu_id=0, mode=IOMode.SYSIO):
        self._net = net
        self.calls = 0

    def get_graph_names(self):
        return [self._net.name]

    def get_input_names(self, graph):
        return [n for n, _, _, _ in self._net.inputs]

    def get_output_names(self, graph):
        return [n for n, _, _, _ in self._net.outputs]

    def _io(self, graph, name):
        for entry in self._net.inputs + self._net.outputs:
            if entry[0] == name:
                return entry
        raise KeyError(name)

    def get_input_shape(self, graph, name):
        return list(self._io(graph, name)[1])

    def get_output_shape(self, graph, name):
        return list(self._io(graph, name)[1])

    def get_input_dtype(self, graph, name):
        return self._io(graph, name)[2]

    def get_output_dtype(self, graph, name):
        return self._io(graph, name)[2]

    def get_input_scale(self, graph, name):
        return self._io(graph, name)[3]

    def get_output_scale(self, graph, name):
        return self._io(graph, name)[3]

    def process(self, graph, inputs, *rest, **kwargs):
        if graph != self._net.name:
            raise RuntimeError("graph %r not found" % graph)
        self.calls += 1
        if rest and isinstance(rest[0], dict):
            # process(graph, {name: Tensor}, {name: Tensor}): raw tensors in, raw tensors out
            raw = [inputs[n].asnumpy() for n, _, _, _ in self._net.inputs]
            for (name, _, _, _), value in zip(self._net.outputs, self._net.fn(raw)):
                rest[0][name].update_data(value)
            return None
        raw = []
        for name, shape, dtype, scale in self._net.inputs:
            x = np.asarray(inputs[name])
            if dtype == Dtype.BM_INT8 and x.dtype.kind == "f":
                x = np.clip(np.round(x * scale), -127, 127).astype(np.int8)
            raw.append(x.astype(_NUMPY[dtype]).reshape(shape))
        outputs = {}
        for (name, _, dtype, scale), value in zip(self._net.outputs, self._net.fn(raw)):
            value = np.asarray(value)
            if dtype in (Dtype.BM_INT8, Dtype.BM_UINT8, Dtype.BM_INT32):
                value = value.astype(np.float32) * np.float32(scale)
            outputs[name] = value.astype(np.float32)
        # std::map<std::string, ...> -> dict: keys come back sorted by name.
        return {name: outputs[name] for name in sorted(outputs)}


def install(monkeypatch):
    """Make ``import sophon.sail`` (and ``from sophon import sail``) return this fake for one test."""
    module = sys.modules[__name__]
    package = types.ModuleType("sophon")
    package.sail = module
    package.__path__ = []
    monkeypatch.setitem(sys.modules, "sophon", package)
    monkeypatch.setitem(sys.modules, "sophon.sail", module)
    return module
