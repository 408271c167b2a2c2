"""The SOPHON port of original.py, written the way ports usually are, with the walkthrough's bug.

The "port" of Sophgo's FP32 BModel precise-alignment walkthrough (sophon-demo
docs/FP32BModel_Precise_Alignment.md): cv2.imread -> BGR to RGB -> cv2.resize (INTER_LINEAR) ->
normalisation in Bmcv.convert_to's per-channel (alpha, beta) form -> inference through a
deployment runtime -> the same softmax/argmax. cv2.resize does not antialias when shrinking and
torchvision's Resize on a PIL image does: that is the difference bmtrace has to find.

Runtimes, first available wins (or force one with --runtime / RESNET_ALIGN_RUNTIME):
  sail         sophon-sail on a SOPHON device, running the compiled bmodel
  simulator    the same bmodel on tpu-mlir's CPU simulator via bmtrace.sophon.runner.BmodelRunner
  onnxruntime  ONNX Runtime on build/resnet18.onnx (python export_model.py makes it)
Both bmodel runtimes need BMODEL (default build/resnet18_f32_bm1684x.bmodel, or $RESNET_ALIGN_BMODEL).

Usage:
    python ported.py [--runtime NAME] [IMAGE ...]
    bmtrace record --out runs/ported --side ported -- python ported.py
"""
import argparse
import functools
import glob
import os
import sys

import cv2
import numpy as np

import bmtrace

HERE = os.path.dirname(os.path.abspath(__file__))
IMAGE_DIR = os.path.join(HERE, "images")
BUILD_DIR = os.path.join(HERE, "build")
ONNX_PATH = os.path.join(BUILD_DIR, "resnet18.onnx")
BMODEL_PATH = os.environ.get("RESNET_ALIGN_BMODEL", os.path.join(BUILD_DIR, "resnet18_f32_bm1684x.bmodel"))
RUNTIMES = ("sail", "simulator", "onnxruntime")
INPUT_SIZE = (224, 224)  # (height, width)
MEAN = (0.485, 0.456, 0.406)  # ImageNet statistics, RGB order
STD = (0.229, 0.224, 0.225)
INPUT_SCALE = 1.0  # an F32 bmodel; an INT8 one would use its input tensor's scale here
# Bmcv.convert_to takes ((alpha0, beta0), (alpha1, beta1), (alpha2, beta2)): out = in * alpha + beta.
CONVERT_TO = tuple((INPUT_SCALE / (255.0 * s), -m / s * INPUT_SCALE) for m, s in zip(MEAN, STD))


@bmtrace.trace_stage("read", meta={"color": "BGR", "layout": "HWC"})
def read(path):
    """Decode an image file: BGR, HWC, uint8."""
    img = cv2.imread(path)
    if img is None:
        raise FileNotFoundError("cannot read image %s" % path)
    return img


@bmtrace.trace_stage("to_rgb", meta={"img": {"color": "BGR", "layout": "HWC"},
                                     "out": {"color": "RGB", "layout": "HWC"}})
def to_rgb(img):
    """Reorder BGR to RGB: the model was trained on RGB."""
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


@bmtrace.trace_stage("resize", meta={"color": "RGB", "layout": "HWC"})
def resize(img):
    """Resize to the network input with OpenCV's bilinear interpolation (no antialiasing)."""
    return cv2.resize(img, (INPUT_SIZE[1], INPUT_SIZE[0]), interpolation=cv2.INTER_LINEAR)


@bmtrace.trace_stage("normalize", meta={"img": {"color": "RGB", "layout": "HWC"},
                                        "out": {"color": "RGB", "layout": "NCHW"}})
def normalize(img):
    """Apply convert_to's per-channel out = in * alpha + beta, then HWC -> NCHW with a batch of one."""
    alpha = np.float32([a for a, _ in CONVERT_TO])
    beta = np.float32([b for _, b in CONVERT_TO])
    x = img.astype(np.float32) * alpha + beta
    return np.ascontiguousarray(x.transpose(2, 0, 1)[np.newaxis])


@bmtrace.trace_stage("infer")
def infer(x):
    """Run the deployed model on a 1x3x224x224 float32 batch; return the 1x1000 logits."""
    return get_runtime().run(x)


@bmtrace.trace_stage("postprocess")
def postprocess(logits):
    """Softmax over the classes; return the top-1 class index and its probability."""
    logits = np.asarray(logits, dtype=np.float32)
    exp = np.exp(logits - logits.max(axis=1, keepdims=True))
    probs = exp / exp.sum(axis=1, keepdims=True)
    res = int(probs[0].argmax())
    return {"res": res, "score": float(probs[0, res])}


def classify(path, resize=resize):
    """The whole pipeline for one image file, recorded as one bmtrace sample."""
    with bmtrace.sample(os.path.basename(path)):
        img = read(path)
        img = to_rgb(img)
        img = resize(img)
        x = normalize(img)
        logits = infer(x)
        return postprocess(logits)


# -- runtimes ----------------------------------------------------------------------------------------
def _display(path):
    """A path relative to the current directory when it lies below it, else absolute."""
    relative = os.path.relpath(path)
    return os.path.abspath(path) if relative.startswith("..") else relative


class SailRuntime(object):
    """sophon-sail's Engine on a SOPHON device (API as documented in sophon-sail)."""

    def __init__(self, sail, bmodel_path):
        self.engine = sail.Engine(bmodel_path, 0, sail.IOMode.SYSIO)
        self.graph = self.engine.get_graph_names()[0]
        self.input_name = self.engine.get_input_names(self.graph)[0]
        self.output_name = self.engine.get_output_names(self.graph)[0]
        self.description = "sail %s, %s" % (getattr(sail, "__version__", "?"), _display(bmodel_path))

    def run(self, x):
        outputs = self.engine.process(self.graph, {self.input_name: x})
        # By name, never list(outputs.values()): process() returns its outputs sorted by name.
        return outputs[self.output_name]


class SimulatorRuntime(object):
    """The bmodel on tpu-mlir's CPU simulator through bmtrace's libbmrt runner."""

    def __init__(self, runner_class, bmodel_path):
        self.runner = runner_class(bmodel_path)
        self.input_name = self.runner.input_names[0]
        self.output_name = self.runner.output_names[0]  # ONNX "logits" is renamed in compilation
        self.description = "tpu-mlir simulator (bmtrace BmodelRunner), %s" % _display(bmodel_path)

    def run(self, x):
        return self.runner.run({self.input_name: np.asarray(x, dtype=np.float32)})[self.output_name]


class OnnxRuntime(object):
    """ONNX Runtime on the exported ONNX model, when no bmodel runtime is available."""

    def __init__(self, onnx_path):
        import onnxruntime

        options = onnxruntime.SessionOptions()
        # Respect the usual thread cap so the example stays polite on shared machines.
        options.intra_op_num_threads = int(os.environ.get("OMP_NUM_THREADS", "0") or 0)
        self.session = onnxruntime.InferenceSession(onnx_path, options, providers=["CPUExecutionProvider"])
        self.input_name = self.session.get_inputs()[0].name
        self.description = "onnxruntime %s, %s" % (onnxruntime.__version__, _display(onnx_path))

    def run(self, x):
        return self.session.run(None, {self.input_name: np.asarray(x, dtype=np.float32)})[0]


def _try_sail():
    """SailRuntime, or the reason it is unavailable."""
    try:
        import sophon.sail as sail
    except ImportError:
        return None, "sail not installed"
    if not os.path.exists(BMODEL_PATH):
        return None, "no bmodel at %s" % _display(BMODEL_PATH)
    return SailRuntime(sail, BMODEL_PATH), None


def _try_simulator():
    """SimulatorRuntime, or the reason it is unavailable."""
    if not os.path.exists(BMODEL_PATH):
        return None, "no bmodel at %s" % _display(BMODEL_PATH)
    try:
        from bmtrace.sophon.runner import BmodelRunner
    except ImportError as exc:
        return None, "bmtrace.sophon.runner unavailable (%s)" % exc
    try:
        return SimulatorRuntime(BmodelRunner, BMODEL_PATH), None
    except Exception as exc:  # no simulator libraries here: say why and fall back
        return None, "simulator failed to start (%s: %s)" % (type(exc).__name__, exc)


def _try_onnxruntime():
    """OnnxRuntime, or the reason it is unavailable."""
    if not os.path.exists(ONNX_PATH):
        return None, "no ONNX model at %s (run: python %s)" % (
            _display(ONNX_PATH), _display(os.path.join(HERE, "export_model.py")))
    try:
        return OnnxRuntime(ONNX_PATH), None
    except ImportError:
        return None, "onnxruntime not installed (pip install onnxruntime)"


_LOADERS = {"sail": _try_sail, "simulator": _try_simulator, "onnxruntime": _try_onnxruntime}


@functools.lru_cache(maxsize=None)
def get_runtime():
    """The first runtime that works, in RUNTIMES order, or the one named by $RESNET_ALIGN_RUNTIME."""
    wanted = os.environ.get("RESNET_ALIGN_RUNTIME", "auto")
    names = RUNTIMES if wanted == "auto" else (wanted,)
    reasons = []
    for name in names:
        if name not in _LOADERS:
            raise SystemExit("unknown runtime %r: choose one of auto, %s" % (name, ", ".join(RUNTIMES)))
        runtime, reason = _LOADERS[name]()
        if runtime is not None:
            runtime.name = name
            runtime.skipped = reasons
            return runtime
        reasons.append("%s: %s" % (name, reason))
    raise SystemExit("no runtime available:\n  " + "\n  ".join(reasons))


def image_paths(args_images):
    """The images named on the command line, or every JPEG of the example's images/ folder."""
    return list(args_images) or sorted(glob.glob(os.path.join(IMAGE_DIR, "*.jpg")))


def main(argv=None, resize=resize):
    """Classify the images and print `file, res, score` lines; `resize` is the stage to use."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runtime", choices=("auto",) + RUNTIMES,
                        help="inference runtime (default: $RESNET_ALIGN_RUNTIME or auto)")
    parser.add_argument("images", nargs="*", help="image files (default: images/*.jpg)")
    args = parser.parse_args(argv)
    if args.runtime:
        os.environ["RESNET_ALIGN_RUNTIME"] = args.runtime
    runtime = get_runtime()
    print("runtime: %s" % runtime.description)
    for reason in runtime.skipped:
        print("  (skipped %s)" % reason)
    for path in image_paths(args.images):
        result = classify(path, resize=resize)
        print("%s, res: %d, score: %.4f" % (os.path.basename(path), result["res"], result["score"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
