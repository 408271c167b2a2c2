"""Turn libbmrt's BMRT_SAVE_IO_TENSORS dumps into named, shaped, dequantised tensors of a run.

With ``BMRT_SAVE_IO_TENSORS=1`` libbmrt writes ``input_ref_data.dat.bmrt`` before and
``output_ref_data.dat.bmrt`` after each launch: every input (output) tensor's raw bytes concatenated
in the net's index order, no header, in the device dtype (SOPHON.md, from libbmrt's
``Bmruntime::launch_multi_cores``). Names, shapes, dtypes, scales and zero points come from the
bmodel. Quantised tensors are imported twice: dequantised float32 under the tensor's name and raw
under ``<name>.raw``.
"""
from __future__ import annotations

import os
from collections import OrderedDict
from typing import List, Optional, Tuple

import numpy as np

from ..errors import ImportDataError
from .bmodel import Bmodel, BmodelNet, BmodelStage, BmodelTensor, read_bmodel
from .runner import dequantize_input, dequantize_output

INPUT_DUMP = "input_ref_data.dat.bmrt"
OUTPUT_DUMP = "output_ref_data.dat.bmrt"
RAW_SUFFIX = ".raw"


def _raw_dtype(tensor: BmodelTensor):
    if tensor.dtype == "bfloat16":
        return np.dtype(np.uint16)
    if tensor.dtype in ("int4", "uint4"):
        raise ImportDataError("tensor %r is %s; 4-bit dumps are not supported" % (tensor.name, tensor.dtype))
    return np.dtype(tensor.dtype)


def _stage_for_size(net: BmodelNet, role: str, size: int, path: str) -> BmodelStage:
    """The stage whose IO sizes add up to ``size`` bytes (static nets: the only stage)."""
    totals = []
    for stage in net.stages:
        tensors = stage.inputs if role == "input" else stage.outputs
        total = sum(t.nbytes for t in tensors)
        if total == size:
            return stage
        totals.append(total)
    detail = ", ".join(
        "%s %s (%d B)" % (t.name, "x".join(str(d) for d in t.shape), t.nbytes)
        for t in (net.stages[0].inputs if role == "input" else net.stages[0].outputs)
    )
    raise ImportDataError(
        "%s has %d bytes but network %r's %ss need %s bytes (%s); pass the dump made with this "
        "bmodel (a different bmodel, batch size or a truncated copy gives this error)"
        % (path, size, net.name, role, " or ".join(str(t) for t in totals), detail)
    )


def split_dump(data: bytes, net: BmodelNet, role: str, path: str = "<bytes>") -> List[Tuple[BmodelTensor, np.ndarray]]:
    """Cut one dump into (tensor, raw array) pairs in bmodel order; checks the byte count."""
    stage = _stage_for_size(net, role, len(data), path)
    tensors = stage.inputs if role == "input" else stage.outputs
    pieces, offset = [], 0
    for tensor in tensors:
        dtype = _raw_dtype(tensor)
        array = np.frombuffer(data, dtype=dtype, count=tensor.element_count, offset=offset)
        pieces.append((tensor, array.reshape(tensor.shape).copy()))
        offset += tensor.nbytes
    return pieces


def decode_tensor(tensor: BmodelTensor, raw: np.ndarray, role: str) -> "OrderedDict[str, np.ndarray]":
    """{name: value} for one tensor: float as is; quantised -> dequantised + ``name.raw``."""
    values = OrderedDict()
    if tensor.dtype == "bfloat16":
        from .values import bf16_to_float32

        values[tensor.name] = bf16_to_float32(raw)
        values[tensor.name + RAW_SUFFIX] = raw
    elif tensor.is_quantized:
        dequant = dequantize_input if role == "input" else dequantize_output
        values[tensor.name] = dequant(raw, tensor)
        values[tensor.name + RAW_SUFFIX] = raw
    else:
        values[tensor.name] = raw
    return values


def _read(path) -> bytes:
    try:
        with open(path, "rb") as fh:
            return fh.read()
    except OSError as exc:
        raise ImportDataError("cannot read dump %s: %s" % (path, exc.strerror or exc)) from None


def load_bmrt_dumps(bmodel, input_path=None, output_path=None, net: Optional[str] = None):
    """Read the dumps of one launch.

    Args:
        bmodel: a .bmodel path or a :class:`Bmodel` from read_bmodel.
        input_path / output_path: the ``*.dat.bmrt`` files (either may be None).
        net: network name; default the only one.
    Returns:
        (inputs, outputs, tensor_meta): two OrderedDicts name -> array in bmodel order (quantised
        tensors as float32 plus ``name.raw``), and per-name meta (device dtype, scale, zero point,
        bmodel index).
    Raises:
        ImportDataError: a dump's size does not match the bmodel's metadata.
    """
    model = bmodel if isinstance(bmodel, Bmodel) else read_bmodel(bmodel)
    network = model.net(net)
    inputs, outputs, meta = OrderedDict(), OrderedDict(), {}
    for role, path, target in (("input", input_path, inputs), ("output", output_path, outputs)):
        if path is None:
            continue
        for tensor, raw in split_dump(_read(path), network, role, os.fspath(path)):
            for name, value in decode_tensor(tensor, raw, role).items():
                target[name] = value
                meta[name] = {
                    "bmodel_index": tensor.index,
                    "device_dtype": tensor.dtype,
                    "scale": tensor.scale,
                    "zero_point": tensor.zero_point,
                    "raw": name != tensor.name,
                }
    return inputs, outputs, meta


def record_bmrt_dumps(bmodel, input_path=None, output_path=None, *, net: Optional[str] = None,
                      stage: str = "infer"):
    """Record one launch's dumps as one call of ``stage`` into the active run (and sample)."""
    from ..api import trace_stage

    model = bmodel if isinstance(bmodel, Bmodel) else read_bmodel(bmodel)
    network = model.net(net)
    inputs, outputs, tensor_meta = load_bmrt_dumps(model, input_path, output_path, network.name)
    meta = {"source": "BMRT_SAVE_IO_TENSORS", "bmodel": os.path.abspath(model.path), "net": network.name,
            "chip": model.chip}
    meta.update(tensor_meta)
    with trace_stage(stage, meta=meta) as st:
        if inputs:
            st.input(**inputs)
        if outputs:
            st.output(**outputs)
    return inputs, outputs


def import_bmrt(run_path, bmodel, input_path=None, output_path=None, *, net: Optional[str] = None,
                stage: str = "infer", sample: Optional[str] = None, side: Optional[str] = None):
    """Append one launch's dumps to run ``run_path`` (created if missing) as a call of ``stage``.

    Example::

        import_bmrt("runs/port", "resnet18_fp32_1b.bmodel", "input_ref_data.dat.bmrt",
                    "output_ref_data.dat.bmrt", sample="test.jpg")
    """
    import bmtrace

    if input_path is None and output_path is None:
        raise ImportDataError("nothing to import: give the input and/or the output dump")
    model = read_bmodel(bmodel)
    # Validate before touching the run, so a wrong dump leaves it unchanged.
    load_bmrt_dumps(model, input_path, output_path, net)
    run_path = os.fspath(run_path)
    exists = os.path.isfile(os.path.join(run_path, "run.json"))
    bmtrace.start(run_path, side=side, append=exists)
    try:
        with bmtrace.sample(sample):
            record_bmrt_dumps(model, input_path, output_path, net=net, stage=stage)
    finally:
        bmtrace.stop()
    return run_path
