"""Export the original program's TinyYolo to ONNX, the model the port deploys.

Writes build/yolo_tiny.onnx (input "images" 1x3x320x320 float32, output "output0" 1xNx8, boxes
decoded in the graph as in an ultralytics export) and build/yolo_tiny.json recording what it was made
from. The export is skipped while that record matches original.py and the installed torch; --force
re-exports. Generated, never committed.

Usage: python export_model.py [--out DIR] [--force]
"""
import argparse
import hashlib
import json
import os
import sys
import warnings

HERE = os.path.dirname(os.path.abspath(__file__))
BUILD_DIR = os.path.join(HERE, "build")
ONNX_NAME = "yolo_tiny.onnx"
RECORD_NAME = "yolo_tiny.json"
OPSET = 13


def source_fingerprint():
    """sha256 of original.py: the weights are a function of its code (and of torch's RNG)."""
    with open(os.path.join(HERE, "original.py"), "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def is_up_to_date(out_dir, torch_version):
    try:
        with open(os.path.join(out_dir, RECORD_NAME)) as f:
            record = json.load(f)
    except (OSError, ValueError):
        return False
    return (os.path.exists(os.path.join(out_dir, ONNX_NAME)) and record.get("torch") == torch_version
            and record.get("original_sha256") == source_fingerprint())


def export(out_dir):
    """Build the original's model, write the ONNX file and its record; return the ONNX path."""
    import torch

    sys.path.insert(0, HERE)  # import original.py as a module without running its main()
    import original

    model = original.load_model()
    dummy = torch.zeros(1, 3, original.IMG_SIZE, original.IMG_SIZE)
    os.makedirs(out_dir, exist_ok=True)
    path = os.path.join(out_dir, ONNX_NAME)
    tmp = path + ".tmp"
    with warnings.catch_warnings():  # the TorchScript exporter, on purpose: one plain opset-13 file
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(model, (dummy,), tmp, input_names=["images"], output_names=["output0"],
                          opset_version=OPSET, dynamo=False)
    os.replace(tmp, path)
    with torch.no_grad():
        shape = list(model(dummy).shape)
    from importlib.metadata import version

    record = {"model": "TinyYolo", "seed": original.SEED, "torch": version("torch"), "opset": OPSET,
              "original_sha256": source_fingerprint(),
              "input": {"name": "images", "shape": list(dummy.shape), "dtype": "float32"},
              "output": {"name": "output0", "shape": shape, "dtype": "float32"}}
    with open(os.path.join(out_dir, RECORD_NAME), "w") as f:
        json.dump(record, f, indent=1)
    return path


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=BUILD_DIR, help="output folder (default: build/)")
    parser.add_argument("--force", action="store_true", help="export even when up to date")
    args = parser.parse_args(argv)
    from importlib.metadata import version  # torch's version without the seconds importing torch takes

    if not args.force and is_up_to_date(args.out, version("torch")):
        print("up to date: %s" % os.path.join(args.out, ONNX_NAME))
        return
    print("exported: %s" % export(args.out))


if __name__ == "__main__":
    main()
