"""Export the original program's resnet18 to ONNX, the model the port deploys.

The port runs the same weights through a deployment runtime: this script writes
build/resnet18.onnx (input "input" 1x3x224x224 float32, output "logits" 1x1000) plus
build/resnet18.json recording what it was made from. It skips the export when that record still
matches original.py and the installed torch; --force re-exports. The ONNX file (~45 MB) is generated,
never committed.

With --bmodel it also compiles the ONNX file to an F32 BM1684X bmodel,
build/resnet18_f32_bm1684x.bmodel, with tpu-mlir's model_transform and model_deploy from the
environment scripts/build_tpu_mlir_env.sh builds ($TPU_MLIR_VENV, default
~/.cache/bmtrace/tpu-mlir-venv). ported.py then runs that bmodel (sail on a device, the simulator
here). A re-export deletes the old bmodel so the port never runs stale weights.

Usage: python export_model.py [--out DIR] [--force] [--bmodel]
"""
import argparse
import hashlib
import json
import os
import subprocess
import sys
import warnings

HERE = os.path.dirname(os.path.abspath(__file__))
BUILD_DIR = os.path.join(HERE, "build")
ONNX_NAME = "resnet18.onnx"
RECORD_NAME = "resnet18.json"
BMODEL_NAME = "resnet18_f32_bm1684x.bmodel"
DEFAULT_VENV = os.path.join(os.path.expanduser("~"), ".cache", "bmtrace", "tpu-mlir-venv")
OPSET = 13  # old enough for tpu-mlir 1.30's onnx 1.14 and for any onnxruntime


def source_fingerprint():
    """sha256 of original.py: the weights are a function of its code (and of torch's RNG)."""
    with open(os.path.join(HERE, "original.py"), "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def is_up_to_date(out_dir, torch_version):
    """True when out_dir holds an export made from this original.py with this torch."""
    try:
        with open(os.path.join(out_dir, RECORD_NAME)) as f:
            record = json.load(f)
    except (OSError, ValueError):
        return False
    return (os.path.exists(os.path.join(out_dir, ONNX_NAME))
            and record.get("original_sha256") == source_fingerprint()
            and record.get("torch") == torch_version)


def export(out_dir):
    """Build the original's model and write the ONNX file and its record; return the ONNX path."""
    import torch

    sys.path.insert(0, HERE)  # import original.py as a module without running its main()
    import original

    model = original.load_model()
    dummy = torch.zeros(1, 3, *original.INPUT_SIZE)
    os.makedirs(out_dir, exist_ok=True)
    path = os.path.join(out_dir, ONNX_NAME)
    tmp = path + ".tmp"
    # The TorchScript exporter, chosen on purpose (hence the silenced deprecation warning), writes a
    # plain single-file opset-13 graph that tpu-mlir's model_transform reads.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(model, (dummy,), tmp, input_names=["input"], output_names=["logits"],
                          opset_version=OPSET, dynamo=False)
    os.replace(tmp, path)
    stale = os.path.join(out_dir, BMODEL_NAME)
    if os.path.exists(stale):
        os.remove(stale)
    record = {"model": "resnet18", "seed": original.SEED, "torch": torch.__version__,
              "opset": OPSET, "original_sha256": source_fingerprint(),
              "input": {"name": "input", "shape": [1, 3] + list(original.INPUT_SIZE), "dtype": "float32"},
              "output": {"name": "logits", "shape": [1, 1000], "dtype": "float32"}}
    with open(os.path.join(out_dir, RECORD_NAME), "w") as f:
        json.dump(record, f, indent=1)
    return path


def compile_bmodel(out_dir, venv):
    """Compile out_dir's ONNX model to an F32 BM1684X bmodel with tpu-mlir; return its path."""
    tools = os.path.join(venv, "bin")
    if not os.path.exists(os.path.join(tools, "model_deploy")):
        raise SystemExit("no tpu-mlir tools in %s: build them with scripts/build_tpu_mlir_env.sh "
                         "(or set $TPU_MLIR_VENV)" % venv)
    work = os.path.join(out_dir, "tpu_mlir")  # tpu-mlir writes many intermediate files into its cwd
    os.makedirs(work, exist_ok=True)
    env = dict(os.environ, PATH=tools + os.pathsep + os.environ.get("PATH", ""))
    steps = [
        ["model_transform", "--model_name", "resnet18", "--model_def", os.path.join(out_dir, ONNX_NAME),
         "--input_shapes", "[[1,3,224,224]]", "--mlir", "resnet18.mlir"],
        # --skip_validation: the simulator comparison is what the port's run does anyway.
        ["model_deploy", "--mlir", "resnet18.mlir", "--quantize", "F32", "--chip", "bm1684x",
         "--model", BMODEL_NAME, "--skip_validation"],
    ]
    with open(os.path.join(work, "compile.log"), "w") as log:
        for step in steps:
            if subprocess.call(step, cwd=work, env=env, stdout=log, stderr=subprocess.STDOUT) != 0:
                raise SystemExit("%s failed; see %s" % (step[0], os.path.join(work, "compile.log")))
    path = os.path.join(out_dir, BMODEL_NAME)
    os.replace(os.path.join(work, BMODEL_NAME), path)
    return path


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=BUILD_DIR, help="output folder (default: build/)")
    parser.add_argument("--force", action="store_true", help="export even when up to date")
    parser.add_argument("--bmodel", action="store_true", help="also compile an F32 BM1684X bmodel")
    parser.add_argument("--tpu-mlir-venv", default=os.environ.get("TPU_MLIR_VENV", DEFAULT_VENV),
                        help="tpu-mlir environment (default: $TPU_MLIR_VENV or %(default)s)")
    args = parser.parse_args(argv)
    import torch

    if not args.force and is_up_to_date(args.out, torch.__version__):
        print("model up to date: %s" % os.path.join(args.out, ONNX_NAME))
    else:
        path = export(args.out)
        print("exported %s (%.1f MB)" % (path, os.path.getsize(path) / 1e6))
    if args.bmodel and not os.path.exists(os.path.join(args.out, BMODEL_NAME)):
        path = compile_bmodel(args.out, args.tpu_mlir_venv)
        print("compiled %s (%.1f MB)" % (path, os.path.getsize(path) / 1e6))
    return 0


if __name__ == "__main__":
    sys.exit(main())
