"""Read a .bmodel's metadata (chip, networks, stages, input/output tensors) in pure Python.

The file layout (sophgo/tpu-mlir ``include/tpu_mlir/Builder/BM168x/bmodel.hpp`` and ``bmodel.fbs``):
a 64-byte little-endian header (u32 magic 0xFF55AAEE, u32 header_size, u32 flatbuffers_size, u32
binary_size, 12 reserved u32), then a FlatBuffer whose root table is ``bmodel.Model`` (no file
identifier), then the binary blob (commands, coefficients, kernel module). Only the FlatBuffer is
parsed here, by hand with ``struct``, so that neither tpu-mlir nor the ``flatbuffers`` package is
needed, and so that reading runs on the Python 3.8 device images.
"""
from __future__ import annotations

import dataclasses
import os
import struct
from typing import List, Optional, Tuple

from ..errors import BmodelError

MAGIC = 0xFF55AAEE
HEADER_SIZE = 64

# bm_data_type_t codes (tpu-mlir third_party/nntoolchain/include/bmdef.h) -> numpy dtype names.
# bfloat16/int4/uint4 have no numpy dtype: the name is kept, and bytes are handled by the caller.
DTYPE_NAMES = {
    0: "float32",
    1: "float16",
    2: "int8",
    3: "uint8",
    4: "int16",
    5: "uint16",
    6: "int32",
    7: "uint32",
    8: "bfloat16",
    9: "int4",
    10: "uint4",
}
# Bytes per element; the 4-bit types pack two elements per byte.
DTYPE_BITS = {
    "float32": 32, "float16": 16, "int8": 8, "uint8": 8, "int16": 16, "uint16": 16,
    "int32": 32, "uint32": 32, "bfloat16": 16, "int4": 4, "uint4": 4,
}


@dataclasses.dataclass(frozen=True)
class BmodelTensor:
    """One input or output of a network stage, as the bmodel describes it."""

    name: str
    dtype: str                  # numpy dtype name ("float32", "int8", ...) or "bfloat16"/"int4"/"uint4"
    dtype_code: int             # bm_data_type_t
    shape: Tuple[int, ...]      # the stage's (maximum) shape
    scale: float                # quantisation scale (1.0 for float tensors)
    zero_point: int
    device_size: int            # bytes the runtime reserves for it in device memory
    index: int                  # position in the net's input (or output) order

    @property
    def is_quantized(self) -> bool:
        """True for integer IO whose values mean (q - zero_point) * scale."""
        return self.dtype in ("int8", "uint8", "int16", "uint16", "int4", "uint4")

    @property
    def element_count(self) -> int:
        count = 1
        for dim in self.shape:
            count *= int(dim)
        return count

    @property
    def nbytes(self) -> int:
        """Bytes of the raw data at this shape (what BMRT_SAVE_IO_TENSORS writes for it)."""
        return (self.element_count * DTYPE_BITS[self.dtype] + 7) // 8

    def to_dict(self) -> dict:
        return {
            "name": self.name, "dtype": self.dtype, "shape": list(self.shape), "scale": self.scale,
            "zero_point": self.zero_point, "device_size": self.device_size, "nbytes": self.nbytes,
        }


@dataclasses.dataclass(frozen=True)
class BmodelStage:
    """One compiled shape configuration of a network (static nets have exactly one)."""

    index: int
    inputs: Tuple[BmodelTensor, ...]
    outputs: Tuple[BmodelTensor, ...]
    is_dynamic: bool
    core_num: int

    def to_dict(self) -> dict:
        return {
            "index": self.index, "is_dynamic": self.is_dynamic, "core_num": self.core_num,
            "inputs": [t.to_dict() for t in self.inputs],
            "outputs": [t.to_dict() for t in self.outputs],
        }


@dataclasses.dataclass(frozen=True)
class BmodelNet:
    """A named network with its stages."""

    name: str
    stages: Tuple[BmodelStage, ...]

    @property
    def inputs(self) -> Tuple[BmodelTensor, ...]:
        """Inputs of the first stage (names, dtypes and order are the same for every stage)."""
        return self.stages[0].inputs if self.stages else ()

    @property
    def outputs(self) -> Tuple[BmodelTensor, ...]:
        return self.stages[0].outputs if self.stages else ()

    @property
    def input_names(self) -> List[str]:
        return [t.name for t in self.inputs]

    @property
    def output_names(self) -> List[str]:
        return [t.name for t in self.outputs]

    def to_dict(self) -> dict:
        return {"name": self.name, "stages": [s.to_dict() for s in self.stages]}


@dataclasses.dataclass(frozen=True)
class Bmodel:
    """Metadata of a .bmodel file."""

    path: str
    chip: str
    version: str
    type: str
    time: str
    device_num: int
    networks: Tuple[BmodelNet, ...]
    kernel_module: Optional[str]   # file name of the embedded kernel module (BM1684X), if any
    flatbuffers_size: int
    binary_size: int

    @property
    def net_names(self) -> List[str]:
        return [n.name for n in self.networks]

    def net(self, name: Optional[str] = None) -> BmodelNet:
        """The network called ``name``; without a name, the only network (error if several)."""
        if name is None:
            if len(self.networks) == 1:
                return self.networks[0]
            raise BmodelError(
                "%s holds %d networks (%s); choose one with --net NAME"
                % (self.path, len(self.networks), ", ".join(self.net_names) or "none")
            )
        for net in self.networks:
            if net.name == name:
                return net
        raise BmodelError(
            "%s has no network %r; it has: %s" % (self.path, name, ", ".join(self.net_names))
        )

    def to_dict(self) -> dict:
        return {
            "path": self.path, "chip": self.chip, "version": self.version, "type": self.type,
            "time": self.time, "device_num": self.device_num, "kernel_module": self.kernel_module,
            "flatbuffers_size": self.flatbuffers_size, "binary_size": self.binary_size,
            "networks": [n.to_dict() for n in self.networks],
        }


class _Garbled(Exception):
    """Internal: the FlatBuffer does not hold together (bounds, vtables, strings)."""


class _FlatBuffer:
    """Bounds-checked access to FlatBuffer tables, vectors and strings in a bytes object."""

    def __init__(self, buf: bytes):
        self.buf = buf
        self.size = len(buf)

    def _unpack(self, fmt: str, pos: int):
        width = struct.calcsize(fmt)
        if pos < 0 or pos + width > self.size:
            raise _Garbled("read of %d bytes at offset %d outside the %d-byte flatbuffer" % (width, pos, self.size))
        return struct.unpack_from(fmt, self.buf, pos)[0]

    def root(self) -> int:
        return self._deref(0)

    def _deref(self, pos: int) -> int:
        target = pos + self._unpack("<I", pos)
        if target >= self.size:
            raise _Garbled("offset at %d points past the end (%d)" % (pos, target))
        return target

    def field_pos(self, table: int, field_id: int) -> Optional[int]:
        """Absolute position of a field's data in ``table``, or None when the field is absent."""
        vtable = table - self._unpack("<i", table)
        vt_size = self._unpack("<H", vtable)
        table_size = self._unpack("<H", vtable + 2)
        if vt_size < 4 or vt_size % 2 or vtable + vt_size > self.size or table + table_size > self.size:
            raise _Garbled("bad vtable at %d for table at %d" % (vtable, table))
        entry = 4 + 2 * field_id
        if entry + 2 > vt_size:
            return None
        offset = self._unpack("<H", vtable + entry)
        if offset == 0:
            return None
        if offset >= table_size:
            raise _Garbled("field %d of table at %d lies outside the table" % (field_id, table))
        return table + offset

    def scalar(self, table: int, field_id: int, fmt: str, default):
        pos = self.field_pos(table, field_id)
        return default if pos is None else self._unpack("<" + fmt, pos)

    def string(self, table: int, field_id: int, required: bool = False) -> Optional[str]:
        pos = self.field_pos(table, field_id)
        if pos is None:
            if required:
                raise _Garbled("required string field %d missing in table at %d" % (field_id, table))
            return None
        start = self._deref(pos)
        length = self._unpack("<I", start)
        if start + 4 + length > self.size:
            raise _Garbled("string at %d runs past the end" % start)
        try:
            return self.buf[start + 4:start + 4 + length].decode("utf-8")
        except UnicodeDecodeError:
            raise _Garbled("string at %d is not UTF-8" % start) from None

    def vector(self, table: int, field_id: int, required: bool = False) -> Tuple[int, int]:
        """(position of the first element, length); (0, 0) when absent."""
        pos = self.field_pos(table, field_id)
        if pos is None:
            if required:
                raise _Garbled("required vector field %d missing in table at %d" % (field_id, table))
            return 0, 0
        start = self._deref(pos)
        length = self._unpack("<I", start)
        if start + 4 + 4 * length > self.size and length:
            raise _Garbled("vector at %d (length %d) runs past the end" % (start, length))
        return start + 4, length

    def tables(self, table: int, field_id: int, required: bool = False) -> List[int]:
        first, length = self.vector(table, field_id, required)
        return [self._deref(first + 4 * i) for i in range(length)]

    def table(self, table: int, field_id: int) -> Optional[int]:
        pos = self.field_pos(table, field_id)
        return None if pos is None else self._deref(pos)

    def scalars(self, table: int, field_id: int, fmt: str) -> List:
        first, length = self.vector(table, field_id)
        width = struct.calcsize(fmt)
        if first + width * length > self.size:
            raise _Garbled("scalar vector at %d runs past the end" % first)
        return list(struct.unpack_from("<%d%s" % (length, fmt), self.buf, first)) if length else []


def _read_tensor(fb: _FlatBuffer, table: int, index: int) -> BmodelTensor:
    # Field ids from bmodel.fbs `table Tensor`.
    name = fb.string(table, 0, required=True)
    code = fb.scalar(table, 1, "I", 0)
    if code not in DTYPE_NAMES:
        raise _Garbled("tensor %r has unknown data_type %d" % (name, code))
    shapes = fb.tables(table, 5)
    # Static nets have one shape per tensor; dynamic nets list one per stage in older files, and
    # the stage's own tensor table carries the (max) shape in current ones: the first is the one
    # the runtime sizes buffers for.
    shape = tuple(int(d) for d in fb.scalars(shapes[0], 0, "Q")) if shapes else ()
    return BmodelTensor(
        name=name,
        dtype=DTYPE_NAMES[code],
        dtype_code=code,
        shape=shape,
        scale=float(fb.scalar(table, 7, "f", 1.0)),
        zero_point=int(fb.scalar(table, 10, "i", 0)),
        device_size=int(fb.scalar(table, 4, "Q", 0)),
        index=index,
    )


def _read_stage(fb: _FlatBuffer, table: int, index: int) -> BmodelStage:
    # Field ids from bmodel.fbs `table NetParameter`.
    inputs = tuple(_read_tensor(fb, t, i) for i, t in enumerate(fb.tables(table, 0, required=True)))
    outputs = tuple(_read_tensor(fb, t, i) for i, t in enumerate(fb.tables(table, 1, required=True)))
    return BmodelStage(
        index=index,
        inputs=inputs,
        outputs=outputs,
        is_dynamic=bool(fb.scalar(table, 5, "i", 0)),
        core_num=int(fb.scalar(table, 16, "I", 0)) or 1,
    )


def _read_header(path: str, data: bytes) -> Tuple[int, int, int]:
    if len(data) < 4 or struct.unpack_from("<I", data, 0)[0] != MAGIC:
        raise BmodelError(
            "%s is not a bmodel: it does not start with the bmodel magic 0x%08X "
            "(pass the .bmodel file that model_deploy or bmnetx wrote)" % (path, MAGIC)
        )
    if len(data) < HEADER_SIZE:
        raise BmodelError(
            "%s is truncated: %d bytes, shorter than the %d-byte bmodel header; copy the file again"
            % (path, len(data), HEADER_SIZE)
        )
    magic, header_size, fb_size, binary_size = struct.unpack_from("<4I", data, 0)
    if header_size < 16 or header_size > len(data):
        raise BmodelError("%s has a corrupt header (header_size %d); copy the file again" % (path, header_size))
    if header_size + fb_size > len(data):
        raise BmodelError(
            "%s is truncated: the header announces a %d-byte model description after %d header bytes, "
            "but the file has only %d bytes; copy the file again"
            % (path, fb_size, header_size, len(data))
        )
    if header_size + fb_size + binary_size > len(data):
        raise BmodelError(
            "%s is truncated: expected %d bytes (header %d + description %d + binary %d), found %d; "
            "copy the file again" % (path, header_size + fb_size + binary_size, header_size, fb_size,
                                     binary_size, len(data))
        )
    return header_size, fb_size, binary_size


def read_bmodel(path) -> Bmodel:
    """Read a .bmodel's metadata without tpu-mlir or libbmrt.

    Args:
        path: the .bmodel file.
    Returns:
        a :class:`Bmodel` with chip, version and networks -> stages -> inputs/outputs.
    Raises:
        BmodelError: missing file, not a bmodel, truncated, or an unreadable (encrypted or
            corrupted) model description.

    Example::

        bm = read_bmodel("resnet18_fp32_1b.bmodel")
        net = bm.net()                       # the only network
        print(bm.chip, net.input_names, net.outputs[0].shape)
    """
    path = os.fspath(path)
    try:
        with open(path, "rb") as fh:
            data = fh.read()
    except OSError as exc:
        raise BmodelError("cannot read bmodel %s: %s" % (path, exc.strerror or exc)) from None
    header_size, fb_size, binary_size = _read_header(path, data)
    fb = _FlatBuffer(data[header_size:header_size + fb_size])
    try:
        root = fb.root()
        # Field ids from bmodel.fbs `table Model`.
        networks = []
        for net_table in fb.tables(root, 4, required=True):
            stages = tuple(_read_stage(fb, p, i) for i, p in enumerate(fb.tables(net_table, 3)))
            networks.append(BmodelNet(name=fb.string(net_table, 0, required=True), stages=stages))
        kernel = fb.table(root, 6)
        model = Bmodel(
            path=path,
            chip=fb.string(root, 3, required=True),
            version=fb.string(root, 1, required=True),
            type=fb.string(root, 0, required=True),
            time=fb.string(root, 2, required=True).strip(),  # tpu-mlir stores ctime()'s newline
            device_num=int(fb.scalar(root, 7, "I", 0)) or 1,
            networks=tuple(networks),
            kernel_module=(fb.string(kernel, 0) or None) if kernel is not None else None,
            flatbuffers_size=fb_size,
            binary_size=binary_size,
        )
    except _Garbled as exc:
        raise BmodelError(
            "%s has a bmodel header but its model description cannot be read (%s); the file is "
            "encrypted (model_tool --encrypt: decrypt it first) or corrupted (copy it again)" % (path, exc)
        ) from None
    if not model.networks:
        raise BmodelError("%s holds no networks; recompile the model" % path)
    return model
