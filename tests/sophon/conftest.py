"""Shared fixtures for the SOPHON tests: bmodel fixtures, the tpu-mlir simulator env, the sail fake."""
import glob
import os
import shutil
import subprocess

import pytest

from sophon_testlib import BUILT_CHIP, ENV_HINT, FIXTURES, committed_bmodels, fixture_cache_dir, venv_path
from sophon_testlib import make_bmodel_fixtures


@pytest.fixture(scope="session")
def tpu_mlir_venv():
    """The simulator env; skips the test with the build command when it is missing."""
    venv = venv_path()
    if not make_bmodel_fixtures.venv_ready(venv):
        pytest.skip(ENV_HINT % venv)
    return venv


@pytest.fixture(scope="session")
def all_bmodels(tpu_mlir_venv):
    """Committed BM1684 fixtures plus BM1684X ones compiled on first use (~15-45 s, then cached)."""
    cache = fixture_cache_dir(tpu_mlir_venv)
    # Caches of older versions of the fixture scripts are never used again: drop them (~40 MB each).
    for stale in glob.glob(os.path.join(os.path.dirname(cache), "bmodel-fixtures-*")):
        if stale != cache:
            shutil.rmtree(stale, ignore_errors=True)
    built = make_bmodel_fixtures.build(cache, tpu_mlir_venv, chips=[BUILT_CHIP])
    found = dict(committed_bmodels())
    found.update(built)
    return found


@pytest.fixture(scope="session")
def onnx_path():
    """Path of a committed tiny ONNX model by name (the exact file the bmodels were compiled from)."""
    return lambda model: os.path.join(FIXTURES, model + ".onnx")


@pytest.fixture
def fake_sail(monkeypatch):
    """The sail FAKE (tests/fakes/fake_sail.py) installed as sophon.sail; un-instrumented afterwards."""
    import fake_sail as module

    from bmtrace.sophon.instrument import uninstrument_sail

    installed = module.install(monkeypatch)
    yield installed
    uninstrument_sail(installed)


@pytest.fixture(scope="session")
def combined_bmodel(tpu_mlir_venv, all_bmodels):
    """A two-network BM1684X bmodel (conv1 F32 + two_io INT8) made with `model_tool --combine`."""
    target = os.path.join(os.path.dirname(all_bmodels[("conv1", BUILT_CHIP, "f32")]), "combined.bmodel")
    if not os.path.exists(target):
        subprocess.run([os.path.join(tpu_mlir_venv, "bin", "model_tool"), "--combine",
                        all_bmodels[("conv1", BUILT_CHIP, "f32")], all_bmodels[("two_io", BUILT_CHIP, "int8")],
                        "-o", target + ".tmp.bmodel"], check=True, capture_output=True)
        os.replace(target + ".tmp.bmodel", target)
    return target


@pytest.fixture(scope="session")
def multistage_bmodel(tpu_mlir_venv, all_bmodels):
    """conv1 for BM1684X F32 with two stages (batch 1 and batch 2), merged by `model_tool --combine`."""
    folder = os.path.dirname(all_bmodels[("conv1", BUILT_CHIP, "f32")])
    target = os.path.join(folder, "conv1_multistage.bmodel")
    if not os.path.exists(target):
        batch2 = make_bmodel_fixtures.build(folder, tpu_mlir_venv, models=["conv1"], chips=[BUILT_CHIP],
                                            quants=["f32"], batch=2)[("conv1", BUILT_CHIP, "f32")]
        subprocess.run([os.path.join(tpu_mlir_venv, "bin", "model_tool"), "--combine",
                        all_bmodels[("conv1", BUILT_CHIP, "f32")], batch2, "-o", target + ".tmp.bmodel"],
                       check=True, capture_output=True)
        os.replace(target + ".tmp.bmodel", target)
    return target
