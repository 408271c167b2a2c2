"""Helpers of the SOPHON tests (paths, fixture lists, CLI runner); a unique module name, so test
modules can import it whatever other conftest.py files pytest has loaded."""
import hashlib
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FIXTURES = os.path.join(ROOT, "tests", "fixtures", "bmodel")
SCRIPTS = os.path.join(ROOT, "scripts")
FAKES = os.path.join(ROOT, "tests", "fakes")
for _path in (SCRIPTS, FAKES):
    if _path not in sys.path:
        sys.path.insert(0, _path)

import make_bmodel_fixtures  # noqa: E402
import tiny_onnx_models  # noqa: E402

ENV_HINT = ("the tpu-mlir simulator env is missing at %s; build it with `scripts/build_tpu_mlir_env.sh` "
            "(~3 min, 2 GB; set BMTRACE_TPU_MLIR_VENV to use another folder)")
COMMITTED_CHIP = "bm1684"   # BM1684 bmodels are ~20 KB and committed; BM1684X ones embed a 5.6 MB kernel
BUILT_CHIP = "bm1684x"


def committed_bmodels():
    """{(model, chip, quant): path} of the committed BM1684 fixtures."""
    return {
        (model, COMMITTED_CHIP, quant): os.path.join(FIXTURES, "%s_%s_%s.bmodel" % (model, COMMITTED_CHIP, quant))
        for model in tiny_onnx_models.MODELS for quant in make_bmodel_fixtures.QUANTS
    }


def venv_path():
    """The simulator env the tests use: $BMTRACE_TPU_MLIR_VENV or the build script's default."""
    return os.environ.get("BMTRACE_TPU_MLIR_VENV") or make_bmodel_fixtures.DEFAULT_VENV


def fixture_cache_dir(venv):
    """Cache folder for compiled BM1684X fixtures, keyed by the scripts that make them and the env."""
    digest = hashlib.sha1()
    for name in ("tiny_onnx_models.py", "make_bmodel_fixtures.py"):
        with open(os.path.join(SCRIPTS, name), "rb") as fh:
            digest.update(fh.read())
    with open(os.path.join(venv, ".bmtrace-env-ok"), "rb") as fh:
        digest.update(fh.read())
    base = os.environ.get("BMTRACE_FIXTURE_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "bmtrace")
    return os.path.join(base, "bmodel-fixtures-" + digest.hexdigest()[:12])


def run_cli(*args, cwd=None):
    """`python -m bmtrace ARGS` as the user runs it; returns the CompletedProcess."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (ROOT, env.get("PYTHONPATH")) if p)
    return subprocess.run([sys.executable, "-m", "bmtrace"] + [str(a) for a in args], capture_output=True,
                          text=True, cwd=cwd, env=env)
