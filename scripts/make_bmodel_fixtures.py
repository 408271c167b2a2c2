#!/usr/bin/env python3
"""Compile the tiny ONNX models of tiny_onnx_models.py into bmodels with the tpu-mlir environment.

For each model (conv1: 1 in / 1 out; two_io: 2 in / 2 out), each chip (bm1684x, bm1684) and each
quantisation (f32; int8 with --quant_input --quant_output, i.e. int8 IO) it writes
``OUT/<model>_<chip>_<quant>.bmodel`` and ``OUT/<model>.onnx``. Existing bmodels are kept unless
--force. Steps follow SOPHON.md: model_transform -> (run_calibration) -> model_deploy.

Usage:
    scripts/build_tpu_mlir_env.sh                      # once, ~3 min
    python3 scripts/make_bmodel_fixtures.py --out tests/fixtures/bmodel --chips bm1684
    python3 scripts/make_bmodel_fixtures.py --out /tmp/bm --chips bm1684x --models conv1 --quant f32

Any Python with numpy and onnx can run this script; the compiler runs from the venv (Python 3.10).
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tiny_onnx_models  # noqa: E402

DEFAULT_VENV = os.path.join(os.path.expanduser("~"), ".cache", "bmtrace", "tpu-mlir-venv")
CHIPS = ("bm1684x", "bm1684")
QUANTS = ("f32", "int8")
CALIBRATION_SAMPLES = 8


def venv_ready(venv: str) -> bool:
    """True when build_tpu_mlir_env.sh finished building ``venv``."""
    return os.path.isfile(os.path.join(venv, ".bmtrace-env-ok"))


def _tool_env(venv: str) -> dict:
    env = dict(os.environ)
    env["PATH"] = os.path.join(venv, "bin") + os.pathsep + env.get("PATH", "")
    env["VIRTUAL_ENV"] = venv
    # The caller's PYTHONPATH (e.g. a Python 3.11 dev tree) must not leak into the 3.10 tools.
    env.pop("PYTHONPATH", None)
    env.pop("PYTHONHOME", None)
    return env


def _run(venv: str, tool: str, args, cwd: str, log):
    cmd = [os.path.join(venv, "bin", tool)] + [str(a) for a in args]
    log.write("$ %s\n" % " ".join(cmd))
    log.flush()
    proc = subprocess.run(cmd, cwd=cwd, env=_tool_env(venv), stdout=log, stderr=subprocess.STDOUT)
    if proc.returncode != 0:
        raise RuntimeError("%s failed (exit %d); see the log %s" % (tool, proc.returncode, log.name))


def _shapes_arg(model_name: str, batch: int = 1) -> str:
    shapes = [(batch,) + tuple(s[1:]) for s in tiny_onnx_models.MODELS[model_name]["inputs"].values()]
    return "[" + ",".join("[" + ",".join(str(d) for d in s) + "]" for s in shapes) + "]"


def _transform(venv, work, model_name, onnx_path, log, batch=1) -> str:
    mlir = os.path.join(work, "%s_b%d.mlir" % (model_name, batch))
    if not os.path.exists(mlir):
        _run(venv, "model_transform", [
            "--model_name", model_name, "--model_def", onnx_path,
            "--input_shapes", _shapes_arg(model_name, batch), "--mlir", mlir,
        ], work, log)
    return mlir


def _calibrate(venv, work, model_name, mlir, log) -> str:
    table = os.path.join(work, model_name + "_cali_table")
    if os.path.exists(table):
        return table
    dataset = os.path.join(work, model_name + "_cali")
    os.makedirs(dataset, exist_ok=True)
    for i in range(CALIBRATION_SAMPLES):
        np.savez(os.path.join(dataset, "%02d.npz" % i), **tiny_onnx_models.sample_inputs(model_name, 100 + i))
    _run(venv, "run_calibration", [mlir, "--dataset", dataset, "--input_num", CALIBRATION_SAMPLES,
                                   "-o", table], work, log)
    return table


def build(out_dir, venv=DEFAULT_VENV, models=None, chips=CHIPS, quants=QUANTS, force=False, verbose=False,
          batch=1):
    """Compile the requested fixtures into ``out_dir``; returns {(model, chip, quant): path}.

    ``batch`` > 1 compiles the same ONNX model for that batch size into ``<model>_b<batch>_...``.
    """
    if not venv_ready(venv):
        raise SystemExit("the tpu-mlir env is missing at %s; build it with scripts/build_tpu_mlir_env.sh %s"
                         % (venv, venv))
    os.makedirs(out_dir, exist_ok=True)
    models = list(models or tiny_onnx_models.BUILDERS)
    work = tempfile.mkdtemp(prefix="bmtrace-fixtures-")
    log_path = os.path.join(work, "build.log")
    built = {}
    try:
        with open(log_path, "w") as log:
            for model_name in models:
                onnx_path = os.path.join(out_dir, model_name + ".onnx")
                if force or not os.path.exists(onnx_path):
                    import onnx

                    onnx.save(tiny_onnx_models.BUILDERS[model_name](), onnx_path + ".tmp")
                    os.replace(onnx_path + ".tmp", onnx_path)
                mlir = None
                for chip in chips:
                    for quant in quants:
                        stem = model_name if batch == 1 else "%s_b%d" % (model_name, batch)
                        target = os.path.join(out_dir, "%s_%s_%s.bmodel" % (stem, chip, quant))
                        built[(model_name, chip, quant)] = target
                        if os.path.exists(target) and not force:
                            continue
                        started = time.time()
                        mlir = mlir or _transform(venv, work, model_name, os.path.abspath(onnx_path), log, batch)
                        # model_deploy writes .json/.profile files next to the model: build in
                        # the work dir and copy only the .bmodel out.
                        staged = os.path.join(work, os.path.basename(target))
                        args = ["--mlir", mlir, "--chip", chip, "--model", staged, "--skip_validation"]
                        if quant == "f32":
                            args += ["--quantize", "F32"]
                        else:
                            table = _calibrate(venv, work, model_name, mlir, log)
                            args += ["--quantize", "INT8", "--calibration_table", table,
                                     "--quant_input", "--quant_output"]
                        _run(venv, "model_deploy", args, work, log)
                        shutil.copyfile(staged, target + ".tmp")
                        os.replace(target + ".tmp", target)  # never leave a half-copied bmodel behind
                        if verbose:
                            print("built %s in %.1f s (%d bytes)"
                                  % (target, time.time() - started, os.path.getsize(target)))
    except Exception:
        with open(log_path) as fh:
            sys.stderr.write(fh.read()[-4000:])
        raise
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return built


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True, help="output folder for .bmodel and .onnx files")
    parser.add_argument("--venv", default=os.environ.get("BMTRACE_TPU_MLIR_VENV", DEFAULT_VENV))
    parser.add_argument("--models", nargs="+", choices=sorted(tiny_onnx_models.BUILDERS))
    parser.add_argument("--chips", nargs="+", choices=CHIPS, default=list(CHIPS))
    parser.add_argument("--quant", nargs="+", choices=QUANTS, default=list(QUANTS))
    parser.add_argument("--batch", type=int, default=1, help="batch size (default 1)")
    parser.add_argument("--force", action="store_true", help="rebuild existing bmodels")
    args = parser.parse_args(argv)
    build(args.out, args.venv, args.models, args.chips, args.quant, args.force, verbose=True, batch=args.batch)


if __name__ == "__main__":
    main()
