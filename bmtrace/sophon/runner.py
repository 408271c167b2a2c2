"""Run a .bmodel through libbmrt's C API with ctypes: tpu-mlir's CPU simulator here, a TPU on devices.

The C API (``bm_dev_request``, ``bmrt_create``, ``bmrt_load_bmodel``, ``bmrt_get_network_info``,
``bmrt_launch_data``, ``bmrt_destroy``, ``bm_dev_free``) and the struct layouts are those of
sophgo/tpu-mlir ``third_party/nntoolchain/include/bmruntime_interface.h`` and ``bmdef.h``; libsophon
installs the same API on devices (``/opt/sophon/libsophon-current/lib/libbmrt.so``).

On the simulator the chip is chosen by which ``libcmodel.so`` libbmlib dlopen()s, and one process
serves one chip. The dynamic loader reads LD_LIBRARY_PATH only at process start, so by default the
simulator runs in a worker process (same interpreter, any Python version) whose LD_LIBRARY_PATH
starts with a temporary folder holding a ``libcmodel.so`` symlink to ``libcmodel_<chip>.so``.

Example::

    with BmodelRunner("conv1_bm1684x_f32.bmodel") as runner:
        outputs = runner.run({"images": x})      # {"feat_Relu": array}, in bmodel order
"""
from __future__ import annotations

import ctypes
import glob
import os
import pickle
import shutil
import struct
import subprocess
import sys
import tempfile
from collections import OrderedDict
from typing import List, Optional

import numpy as np

from ..errors import BmodelError, MissingDependencyError, UsageError
from .bmodel import read_bmodel

DEVICE_LIB_DIR = "/opt/sophon/libsophon-current/lib"
DEFAULT_VENV = os.path.join(os.path.expanduser("~"), ".cache", "bmtrace", "tpu-mlir-venv")
BUILD_HINT = "build it with scripts/build_tpu_mlir_env.sh (about 3 minutes, 2 GB)"
BM_MAX_DIMS_NUM = 8


class BmrtError(BmodelError):
    """libbmrt refused a call (device request, bmodel load, launch)."""


# --- ctypes mirrors of bmdef.h --------------------------------------------------------------------

class BmShape(ctypes.Structure):
    """bm_shape_t: int num_dims; int dims[BM_MAX_DIMS_NUM]."""

    _fields_ = [("num_dims", ctypes.c_int), ("dims", ctypes.c_int * BM_MAX_DIMS_NUM)]

    @classmethod
    def of(cls, shape) -> "BmShape":
        if len(shape) > BM_MAX_DIMS_NUM:
            raise UsageError("shape %r has more than %d dims, which libbmrt cannot take" % (shape, BM_MAX_DIMS_NUM))
        value = cls()
        value.num_dims = len(shape)
        for i, dim in enumerate(shape):
            value.dims[i] = int(dim)
        return value

    def to_tuple(self):
        return tuple(int(self.dims[i]) for i in range(self.num_dims))


class BmStageInfo(ctypes.Structure):
    """bm_stage_info_t."""

    _fields_ = [("input_shapes", ctypes.POINTER(BmShape)), ("output_shapes", ctypes.POINTER(BmShape))]


class BmNetInfo(ctypes.Structure):
    """bm_net_info_t, up to max_output_bytes (older libsophon releases end there)."""

    _fields_ = [
        ("name", ctypes.c_char_p),
        ("is_dynamic", ctypes.c_bool),
        ("input_num", ctypes.c_int),
        ("input_names", ctypes.POINTER(ctypes.c_char_p)),
        ("input_dtypes", ctypes.POINTER(ctypes.c_int)),
        ("input_scales", ctypes.POINTER(ctypes.c_float)),
        ("output_num", ctypes.c_int),
        ("output_names", ctypes.POINTER(ctypes.c_char_p)),
        ("output_dtypes", ctypes.POINTER(ctypes.c_int)),
        ("output_scales", ctypes.POINTER(ctypes.c_float)),
        ("stage_num", ctypes.c_int),
        ("stages", ctypes.POINTER(BmStageInfo)),
        ("max_input_bytes", ctypes.POINTER(ctypes.c_size_t)),
        ("max_output_bytes", ctypes.POINTER(ctypes.c_size_t)),
    ]


# --- finding the libraries ------------------------------------------------------------------------

def tpu_mlir_venv() -> str:
    """The tpu-mlir venv bmtrace uses: $BMTRACE_TPU_MLIR_VENV or ~/.cache/bmtrace/tpu-mlir-venv."""
    return os.environ.get("BMTRACE_TPU_MLIR_VENV") or DEFAULT_VENV


def simulator_lib_dir(venv: Optional[str] = None) -> Optional[str]:
    """tpu_mlir/lib inside the venv (holds libbmrt.so, libbmlib.so.0, libcmodel_<chip>.so), or None."""
    venv = venv or tpu_mlir_venv()
    for candidate in sorted(glob.glob(os.path.join(venv, "lib", "python3*", "site-packages", "tpu_mlir", "lib"))):
        if os.path.exists(os.path.join(candidate, "libbmrt.so")):
            return candidate
    return None


def find_runtime(lib_dir: Optional[str] = None):
    """(lib_dir, kind) with kind "device" (libsophon) or "simulator" (tpu-mlir cmodel).

    Order: the ``lib_dir`` argument, $BMTRACE_BMRT_LIB_DIR, libsophon's install, the tpu-mlir venv.
    """
    explicit = lib_dir or os.environ.get("BMTRACE_BMRT_LIB_DIR")
    if explicit:
        if not os.path.exists(os.path.join(explicit, "libbmrt.so")):
            raise MissingDependencyError("libbmrt.so in %s" % explicit, "sophon", "running a bmodel")
        kind = "simulator" if glob.glob(os.path.join(explicit, "libcmodel_*.so")) else "device"
        return explicit, kind
    if os.path.exists(os.path.join(DEVICE_LIB_DIR, "libbmrt.so")):
        return DEVICE_LIB_DIR, "device"
    sim = simulator_lib_dir()
    if sim:
        return sim, "simulator"
    raise BmrtError(
        "no BModel runtime found: neither libsophon (%s) nor the tpu-mlir simulator env (%s); "
        "on a device install libsophon, elsewhere %s, or point BMTRACE_BMRT_LIB_DIR at a folder with "
        "libbmrt.so" % (DEVICE_LIB_DIR, tpu_mlir_venv(), BUILD_HINT)
    )


def cmodel_library(lib_dir: str, chip: str) -> str:
    """The simulator library for ``chip`` ("BM1684X" -> libcmodel_bm1684x.so)."""
    path = os.path.join(lib_dir, "libcmodel_%s.so" % chip.lower())
    if not os.path.exists(path):
        available = sorted(os.path.basename(p)[len("libcmodel_"):-3]
                           for p in glob.glob(os.path.join(lib_dir, "libcmodel_*.so")))
        raise BmrtError("the simulator in %s has no model of chip %s (it has: %s)"
                        % (lib_dir, chip, ", ".join(available)))
    return path


# --- the native runtime (in this process) ---------------------------------------------------------

class NativeRuntime:
    """libbmrt loaded in this process: one bm_handle, one bmrt, one bmodel."""

    def __init__(self, lib_dir: str, bmodel_path: str, device_id: int = 0, cmodel: Optional[str] = None):
        mode = getattr(os, "RTLD_GLOBAL", 0) | getattr(os, "RTLD_NOW", 0)
        if cmodel:
            # libbmlib dlopen()s "libcmodel.so"; the chip's library has that SONAME, so loading it
            # first makes the dlopen find it (one chip per process).
            ctypes.CDLL(cmodel, mode=mode)
        bmlib_path = os.path.join(lib_dir, "libbmlib.so.0")
        if not os.path.exists(bmlib_path):
            bmlib_path = os.path.join(lib_dir, "libbmlib.so")
        self._bmlib = ctypes.CDLL(bmlib_path, mode=mode)
        self._bmrt = ctypes.CDLL(os.path.join(lib_dir, "libbmrt.so"), mode=mode)
        self._declare()
        self._handle = ctypes.c_void_p()
        status = self._bmlib.bm_dev_request(ctypes.byref(self._handle), int(device_id))
        if status != 0:
            raise BmrtError("bm_dev_request(device %d) failed with status %d; check the device "
                            "(bm-smi) or the simulator libraries in %s" % (device_id, status, lib_dir))
        self._p_bmrt = self._bmrt.bmrt_create(self._handle)
        if not self._p_bmrt:
            self._bmlib.bm_dev_free(self._handle)
            raise BmrtError("bmrt_create failed (libs in %s)" % lib_dir)
        if not self._bmrt.bmrt_load_bmodel(self._p_bmrt, os.fsencode(bmodel_path)):
            self.close()
            raise BmrtError("libbmrt could not load %s (wrong chip for this runtime, or a bmodel newer "
                            "than the runtime; the runtime's log above says which)" % bmodel_path)

    def _declare(self):
        bmrt, bmlib = self._bmrt, self._bmlib
        bmlib.bm_dev_request.argtypes = [ctypes.POINTER(ctypes.c_void_p), ctypes.c_int]
        bmlib.bm_dev_request.restype = ctypes.c_int
        bmlib.bm_dev_free.argtypes = [ctypes.c_void_p]
        bmlib.bm_dev_free.restype = None
        bmrt.bmrt_create.argtypes = [ctypes.c_void_p]
        bmrt.bmrt_create.restype = ctypes.c_void_p
        bmrt.bmrt_destroy.argtypes = [ctypes.c_void_p]
        bmrt.bmrt_destroy.restype = None
        bmrt.bmrt_load_bmodel.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
        bmrt.bmrt_load_bmodel.restype = ctypes.c_bool
        bmrt.bmrt_get_network_info.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
        bmrt.bmrt_get_network_info.restype = ctypes.POINTER(BmNetInfo)
        bmrt.bmrt_launch_data.argtypes = [
            ctypes.c_void_p, ctypes.c_char_p, ctypes.POINTER(ctypes.c_void_p), ctypes.POINTER(BmShape),
            ctypes.c_int, ctypes.POINTER(ctypes.c_void_p), ctypes.POINTER(BmShape), ctypes.c_int,
            ctypes.c_bool,
        ]
        bmrt.bmrt_launch_data.restype = ctypes.c_bool

    def net_info(self, net: str) -> dict:
        """Names, dtype codes and max byte sizes of a net's IO, as libbmrt reports them."""
        ptr = self._bmrt.bmrt_get_network_info(self._p_bmrt, net.encode())
        if not ptr:
            raise BmrtError("libbmrt has no network %r in the loaded bmodel" % net)
        info = ptr.contents
        return {
            "input_names": [info.input_names[i].decode() for i in range(info.input_num)],
            "input_dtypes": [int(info.input_dtypes[i]) for i in range(info.input_num)],
            "output_names": [info.output_names[i].decode() for i in range(info.output_num)],
            "output_dtypes": [int(info.output_dtypes[i]) for i in range(info.output_num)],
            "max_output_bytes": [int(info.max_output_bytes[i]) for i in range(info.output_num)],
        }

    def launch(self, net: str, inputs: List[np.ndarray], output_specs) -> List[np.ndarray]:
        """Run ``net`` on raw device-dtype inputs; output_specs = [(numpy dtype, max bytes)] in order.

        Returns raw output arrays shaped as the runtime reports.
        """
        inputs = [np.ascontiguousarray(a) for a in inputs]
        in_ptrs = (ctypes.c_void_p * len(inputs))(*[a.ctypes.data for a in inputs])
        in_shapes = (BmShape * len(inputs))(*[BmShape.of(a.shape) for a in inputs])
        buffers = [np.empty(max(int(nbytes), 1), np.uint8) for _, nbytes in output_specs]
        out_ptrs = (ctypes.c_void_p * len(buffers))(*[b.ctypes.data for b in buffers])
        out_shapes = (BmShape * len(buffers))()
        ok = self._bmrt.bmrt_launch_data(self._p_bmrt, net.encode(), in_ptrs, in_shapes, len(inputs),
                                         out_ptrs, out_shapes, len(buffers), True)
        if not ok:
            raise BmrtError("bmrt_launch_data failed for network %r (see the runtime's log)" % net)
        outputs = []
        for (dtype_name, _), buf, shape in zip(output_specs, buffers, out_shapes):
            dims = shape.to_tuple()
            count = int(np.prod(dims)) if dims else 1
            raw = buf.view(_storage_dtype(dtype_name))[:count]
            outputs.append(raw.reshape(dims).copy())
        return outputs

    def close(self):
        if getattr(self, "_p_bmrt", None):
            self._bmrt.bmrt_destroy(self._p_bmrt)
            self._p_bmrt = None
        if getattr(self, "_handle", None) and self._handle.value:
            self._bmlib.bm_dev_free(self._handle)
            self._handle = ctypes.c_void_p()


def _storage_dtype(dtype_name: str):
    """numpy dtype that holds a device dtype's raw elements (bf16 as uint16 bit patterns)."""
    if dtype_name == "bfloat16":
        return np.uint16
    if dtype_name in ("int4", "uint4"):
        raise UsageError("4-bit IO tensors are not supported by the runner")
    return np.dtype(dtype_name)


# --- the worker process ---------------------------------------------------------------------------

def _send(stream, obj):
    data = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(struct.pack("<Q", len(data)))
    stream.write(data)
    stream.flush()


def _recv(stream):
    head = stream.read(8)
    if len(head) < 8:
        raise EOFError("peer closed the pipe")
    (size,) = struct.unpack("<Q", head)
    data = stream.read(size)
    if len(data) < size:
        raise EOFError("peer closed the pipe mid-message")
    return pickle.loads(data)


def _worker_main():
    """Serve launch requests on stdin/stdout; the runtime's own prints go to stderr."""
    proto_out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # libbmrt/cmodel printf() to fd 1: keep it out of the protocol stream
    sys.stdout = sys.stderr
    proto_in = os.fdopen(os.dup(0), "rb")
    runtime = None
    while True:
        try:
            request = _recv(proto_in)
        except EOFError:
            break
        try:
            op = request["op"]
            if op == "open":
                runtime = NativeRuntime(request["lib_dir"], request["bmodel"], request["device_id"])
                reply = {"ok": True, "value": runtime.net_info(request["net"])}
            elif op == "run":
                for key, value in request["env"].items():
                    if value is None:
                        os.environ.pop(key, None)
                    else:
                        os.environ[key] = value  # libbmrt reads BMRT_* with getenv on every launch
                os.chdir(request["cwd"])       # BMRT_SAVE_IO_TENSORS dumps land in the cwd
                reply = {"ok": True, "value": runtime.launch(request["net"], request["inputs"],
                                                             request["output_specs"])}
            elif op == "close":
                if runtime:
                    runtime.close()
                _send(proto_out, {"ok": True, "value": None})
                break
            else:
                reply = {"ok": False, "error": "unknown op %r" % op}
        except Exception as exc:  # report to the parent instead of dying silently
            reply = {"ok": False, "error": "%s: %s" % (type(exc).__name__, exc)}
        _send(proto_out, reply)


class _WorkerRuntime:
    """NativeRuntime in a child process whose LD_LIBRARY_PATH selects the simulator's chip."""

    def __init__(self, lib_dir: str, bmodel_path: str, net: str, device_id: int, chip: Optional[str]):
        cmodel = cmodel_library(lib_dir, chip) if chip else None
        self._chip_dir = tempfile.mkdtemp(prefix="bmtrace-cmodel-")
        self._stderr = tempfile.TemporaryFile(prefix="bmtrace-bmrt-", suffix=".log")
        self._proc = None
        # The worker records nothing: it must not join a run the parent records (BMTRACE_DIR/_JOIN).
        env = {k: v for k, v in os.environ.items() if not k.startswith("BMTRACE_")}
        ld_path = [lib_dir]
        if cmodel:
            # libbmlib dlopen()s "libcmodel.so": this folder, first on the path, decides the chip.
            os.symlink(cmodel, os.path.join(self._chip_dir, "libcmodel.so"))
            ld_path.insert(0, self._chip_dir)
        if env.get("LD_LIBRARY_PATH"):
            ld_path.append(env["LD_LIBRARY_PATH"])
        env["LD_LIBRARY_PATH"] = os.pathsep.join(ld_path)
        package_root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH")) if p)
        self._proc = subprocess.Popen(
            [sys.executable, "-c", "from bmtrace.sophon.runner import _worker_main; _worker_main()"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._stderr, env=env,
        )
        try:
            self.info = self._call({"op": "open", "lib_dir": lib_dir, "bmodel": bmodel_path, "net": net,
                                    "device_id": device_id})
        except BaseException:
            self.close()  # no orphaned worker or temp folder when the bmodel does not load
            raise

    def _log_tail(self, limit=3000) -> str:
        self._stderr.seek(0)
        text = self._stderr.read().decode("utf-8", "replace")
        self._stderr.seek(0, 2)
        return text[-limit:]

    def _call(self, request):
        try:
            _send(self._proc.stdin, request)
            reply = _recv(self._proc.stdout)
        except (EOFError, BrokenPipeError, OSError):
            code = self._proc.poll()
            raise BmrtError("the bmodel runner process died (exit %s); its log ends with:\n%s"
                            % (code, self._log_tail())) from None
        if not reply["ok"]:
            raise BmrtError("%s\nruntime log (tail):\n%s" % (reply["error"], self._log_tail()))
        return reply["value"]

    def net_info(self, net):
        return self.info

    def launch(self, net, inputs, output_specs, env=None, cwd=None):
        return self._call({"op": "run", "net": net, "inputs": inputs, "output_specs": output_specs,
                           "env": env or {}, "cwd": cwd or os.getcwd()})

    def close(self):
        if self._proc is not None and self._proc.poll() is None:
            try:
                self._call({"op": "close"})
            except BmrtError:
                pass
            try:
                self._proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        if self._proc is not None:
            for stream in (self._proc.stdin, self._proc.stdout):
                try:
                    stream.close()
                except OSError:
                    pass
        self._proc = None
        self._stderr.close()
        shutil.rmtree(self._chip_dir, ignore_errors=True)


# --- the public runner ----------------------------------------------------------------------------

# Environment variables the runtime reads on every launch; forwarded to the worker per call.
_FORWARDED_ENV = ("BMRT_SAVE_IO_TENSORS",)


def quantize(array: np.ndarray, tensor) -> np.ndarray:
    """Float values -> the tensor's integer device dtype: round(x * scale) + zero_point, clipped.

    For bmodel inputs the stored scale is the reciprocal of the quantisation step (SOPHON.md).
    """
    info = np.iinfo(np.dtype(tensor.dtype))
    q = np.round(np.asarray(array, np.float64) * tensor.scale) + tensor.zero_point
    return np.clip(q, info.min, info.max).astype(tensor.dtype)


def dequantize_output(raw: np.ndarray, tensor) -> np.ndarray:
    """Integer device output -> float32: (q - zero_point) * scale."""
    return ((raw.astype(np.float32) - np.float32(tensor.zero_point)) * np.float32(tensor.scale)).astype(np.float32)


def dequantize_input(raw: np.ndarray, tensor) -> np.ndarray:
    """Integer device input -> float32: (q - zero_point) / scale (input scales are 1/step)."""
    return ((raw.astype(np.float32) - np.float32(tensor.zero_point)) / np.float32(tensor.scale)).astype(np.float32)


def _to_device(array, tensor) -> np.ndarray:
    array = np.asarray(array)
    if tensor.dtype == "bfloat16":
        bits = np.ascontiguousarray(array, np.float32).view(np.uint32)
        # round to nearest even before dropping the low half
        return ((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16).astype(np.uint16)
    target = np.dtype(tensor.dtype)
    if target.kind in "iu" and array.dtype.kind == "f":
        return quantize(array, tensor)
    return np.ascontiguousarray(array, dtype=target)


class BmodelRunner:
    """Run one network of a bmodel, on a SOPHON device (libsophon) or on tpu-mlir's simulator.

    Args:
        bmodel_path: the .bmodel file.
        net: network name; default the only network.
        lib_dir: folder with libbmrt.so; default $BMTRACE_BMRT_LIB_DIR, libsophon, then the
            tpu-mlir venv ($BMTRACE_TPU_MLIR_VENV or ~/.cache/bmtrace/tpu-mlir-venv).
        device_id: TPU index (ignored by the simulator).
        in_process: load libbmrt here (True) or in a worker process (False). Default: in process on
            a device, worker for the simulator (its chip is fixed per process).

    ``run(inputs)`` takes {name: array} (or a list in bmodel order, or one array for one input);
    float arrays for int8/uint8 inputs are quantised like sail does. It returns {name: array} in
    bmodel output order; int8/uint8 outputs are dequantised to float32 unless ``raw=True``.
    """

    def __init__(self, bmodel_path, net: Optional[str] = None, *, lib_dir: Optional[str] = None,
                 device_id: int = 0, in_process: Optional[bool] = None):
        self.bmodel_path = os.path.abspath(os.fspath(bmodel_path))
        self.model = read_bmodel(self.bmodel_path)
        self.net = self.model.net(net)
        self.lib_dir, self.kind = find_runtime(lib_dir)
        if in_process is None:
            in_process = self.kind == "device"
        self.in_process = in_process
        chip = self.model.chip if self.kind == "simulator" else None
        if in_process:
            cmodel = cmodel_library(self.lib_dir, chip) if chip else None
            self._runtime = NativeRuntime(self.lib_dir, self.bmodel_path, device_id, cmodel=cmodel)
        else:
            self._runtime = _WorkerRuntime(self.lib_dir, self.bmodel_path, self.net.name, device_id, chip)
        try:
            self._check_names(self._runtime.net_info(self.net.name))
        except BaseException:
            self.close()
            raise

    def _check_names(self, info):
        # The file's metadata and the runtime must agree on IO order; everything else relies on it.
        if info["input_names"] != self.input_names or info["output_names"] != self.output_names:
            raise BmrtError("libbmrt reports IO %s -> %s for %s but the file says %s -> %s"
                            % (info["input_names"], info["output_names"], self.bmodel_path,
                               self.input_names, self.output_names))

    @property
    def input_names(self) -> List[str]:
        return self.net.input_names

    @property
    def output_names(self) -> List[str]:
        return self.net.output_names

    def _ordered_inputs(self, inputs) -> List[np.ndarray]:
        tensors = self.net.inputs
        if isinstance(inputs, np.ndarray):
            inputs = [inputs]
        if isinstance(inputs, dict):
            missing = [t.name for t in tensors if t.name not in inputs]
            extra = [k for k in inputs if k not in self.input_names]
            if missing or extra:
                raise UsageError("inputs for %s must be named %s; missing %s, unknown %s"
                                 % (self.net.name, self.input_names, missing, extra))
            inputs = [inputs[t.name] for t in tensors]
        inputs = list(inputs)
        if len(inputs) != len(tensors):
            raise UsageError("%s takes %d inputs (%s), got %d"
                             % (self.net.name, len(tensors), self.input_names, len(inputs)))
        self._check_shapes([tuple(np.shape(a)) for a in inputs])
        return [_to_device(a, t) for a, t in zip(inputs, tensors)]

    def _check_shapes(self, shapes):
        """Static nets take exactly one stage's shapes; dynamic ones any shape within a stage's maximum."""
        for stage in self.net.stages:
            wanted = [t.shape for t in stage.inputs]
            if shapes == wanted:
                return
            if stage.is_dynamic and all(len(s) == len(w) and all(a <= b for a, b in zip(s, w))
                                        for s, w in zip(shapes, wanted)):
                return
        accepted = " or ".join(
            ", ".join("%s %s" % (t.name, t.shape) for t in stage.inputs) for stage in self.net.stages)
        raise UsageError("inputs of %s have shapes %s; the bmodel expects %s"
                         % (self.net.name, ", ".join(str(s) for s in shapes), accepted))

    def run(self, inputs, raw: bool = False) -> "OrderedDict[str, np.ndarray]":
        """One inference; returns {output name: array} in bmodel order."""
        device_inputs = self._ordered_inputs(inputs)
        # Output buffers fit the largest stage; libbmrt reports the actual output shapes.
        specs = [(t.dtype, max(max(s.outputs[i].nbytes, s.outputs[i].device_size) for s in self.net.stages))
                 for i, t in enumerate(self.net.outputs)]
        if self.in_process:
            outputs = self._runtime.launch(self.net.name, device_inputs, specs)
        else:
            env = {key: os.environ.get(key) for key in _FORWARDED_ENV}
            outputs = self._runtime.launch(self.net.name, device_inputs, specs, env=env, cwd=os.getcwd())
        result = OrderedDict()
        for tensor, value in zip(self.net.outputs, outputs):
            if tensor.dtype == "bfloat16" and not raw:
                from .values import bf16_to_float32

                value = bf16_to_float32(value)
            elif tensor.is_quantized and not raw:
                value = dequantize_output(value, tensor)
            result[tensor.name] = value
        return result

    def close(self):
        """Free the device / stop the worker; idempotent."""
        runtime, self._runtime = getattr(self, "_runtime", None), None
        if runtime is not None:
            runtime.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass
