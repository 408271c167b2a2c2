"""BmodelRunner on tpu-mlir's simulator: real bmodels, compared with onnxruntime on the source ONNX."""
import numpy as np
import pytest

import tiny_onnx_models
from bmtrace.errors import BmodelError, UsageError
from bmtrace.sophon import BmodelRunner, read_bmodel

CASES = [(model, chip) for model in tiny_onnx_models.MODELS for chip in ("bm1684", "bm1684x")]


def _onnxruntime(onnx_file, inputs):
    import onnxruntime

    session = onnxruntime.InferenceSession(onnx_file, providers=["CPUExecutionProvider"])
    return session.run(None, inputs)


@pytest.mark.simulator
@pytest.mark.parametrize("model,chip", CASES)
def test_f32_outputs_match_onnxruntime(model, chip, all_bmodels, onnx_path):
    """An F32 bmodel's outputs equal onnxruntime's within the vendor's 1e-3 FP32 alignment threshold."""
    inputs = tiny_onnx_models.sample_inputs(model, seed=11)
    expected = _onnxruntime(onnx_path(model), inputs)
    with BmodelRunner(all_bmodels[(model, chip, "f32")]) as runner:
        outputs = runner.run(inputs)
    assert list(outputs) == runner.output_names
    for got, want in zip(outputs.values(), expected):
        assert got.dtype == np.float32 and got.shape == want.shape
        assert np.abs(got - want).max() < 1e-3


@pytest.mark.simulator
@pytest.mark.parametrize("model,chip", CASES)
def test_int8_outputs_are_dequantised_close_to_onnxruntime(model, chip, all_bmodels, onnx_path):
    """INT8-IO bmodels take float inputs, return float32 within a few quantisation steps of onnxruntime."""
    inputs = tiny_onnx_models.sample_inputs(model, seed=12)
    expected = _onnxruntime(onnx_path(model), inputs)
    path = all_bmodels[(model, chip, "int8")]
    with BmodelRunner(path) as runner:
        outputs = runner.run(inputs)
        raw = runner.run(inputs, raw=True)
    for tensor, got, want in zip(read_bmodel(path).net().outputs, outputs.values(), expected):
        assert got.dtype == np.float32
        assert np.abs(got - want).max() <= 4 * tensor.scale
        # raw=True gives the device integers that dequantise to the same values
        assert raw[tensor.name].dtype == np.dtype(tensor.dtype)
        np.testing.assert_array_equal(raw[tensor.name].astype(np.float32) * np.float32(tensor.scale), got)


@pytest.mark.simulator
def test_inputs_by_list_follow_bmodel_order(all_bmodels):
    """A list of inputs is taken in bmodel order and gives the same result as the named dict."""
    inputs = tiny_onnx_models.sample_inputs("two_io", seed=13)
    with BmodelRunner(all_bmodels[("two_io", "bm1684", "f32")]) as runner:
        by_name = runner.run(inputs)
        by_list = runner.run([inputs[n] for n in runner.input_names])
    for name in by_name:
        np.testing.assert_array_equal(by_name[name], by_list[name])


@pytest.mark.simulator
def test_wrong_input_name_is_a_usage_error(all_bmodels):
    """An unknown input name raises UsageError naming the bmodel's inputs."""
    with BmodelRunner(all_bmodels[("conv1", "bm1684", "f32")]) as runner:
        with pytest.raises(UsageError, match="images"):
            runner.run({"image": np.zeros((1, 3, 16, 16), np.float32)})


@pytest.mark.simulator
def test_wrong_input_shape_is_a_usage_error(all_bmodels):
    """A wrong input shape raises UsageError with the shape the bmodel expects."""
    with BmodelRunner(all_bmodels[("conv1", "bm1684", "f32")]) as runner:
        with pytest.raises(UsageError, match=r"\(1, 3, 16, 16\)"):
            runner.run({"images": np.zeros((1, 3, 8, 8), np.float32)})


@pytest.mark.simulator
def test_two_chips_run_side_by_side(all_bmodels):
    """A BM1684 and a BM1684X runner work at the same time (each simulator in its own worker)."""
    inputs = tiny_onnx_models.sample_inputs("conv1", seed=14)
    with BmodelRunner(all_bmodels[("conv1", "bm1684", "f32")]) as a, \
            BmodelRunner(all_bmodels[("conv1", "bm1684x", "f32")]) as b:
        out_a = a.run(inputs)
        out_b = b.run(inputs)
    assert np.abs(out_a["feat_Relu"] - out_b["feat_Relu"]).max() < 1e-4


@pytest.mark.simulator
def test_named_network_of_a_two_network_bmodel(combined_bmodel, all_bmodels):
    """net="two_io" picks that network of a combined bmodel; it computes what the single-net file does."""
    inputs = tiny_onnx_models.sample_inputs("two_io", seed=15)
    with BmodelRunner(combined_bmodel, net="two_io") as runner:
        combined = runner.run(inputs, raw=True)
    with BmodelRunner(all_bmodels[("two_io", "bm1684x", "int8")]) as runner:
        single = runner.run(inputs, raw=True)
    assert list(combined) == list(single)
    for name in single:
        np.testing.assert_array_equal(combined[name], single[name])


@pytest.mark.simulator
def test_two_network_bmodel_needs_a_net_name(combined_bmodel):
    """Without net=, a two-network bmodel is refused with both network names."""
    with pytest.raises(BmodelError, match="conv1, two_io"):
        BmodelRunner(combined_bmodel)


@pytest.mark.simulator
def test_multistage_bmodel_picks_the_stage_of_the_input_shape(multistage_bmodel, onnx_path):
    """A 2-stage bmodel runs a batch-2 input on its batch-2 stage (equal to onnxruntime) and refuses batch 3."""
    # Only the batch-2 stage is checked numerically: in a `model_tool --combine`d BM1684X file the
    # first stage computes wrong values on the 1.30.2 simulator with tpu-mlir's own model_runner too.
    rng = np.random.RandomState(16)
    batch = rng.uniform(-1, 1, (2, 3, 16, 16)).astype(np.float32)
    with BmodelRunner(multistage_bmodel) as runner:
        two = runner.run({"images": batch})["feat_Relu"]
        with pytest.raises(UsageError, match=r"\(2, 3, 16, 16\)"):
            runner.run({"images": np.zeros((3, 3, 16, 16), np.float32)})
    assert two.shape == (2, 4, 16, 16)
    for i in range(2):
        (want,) = _onnxruntime(onnx_path("conv1"), {"images": batch[i:i + 1]})
        assert np.abs(two[i:i + 1] - want).max() < 1e-3


@pytest.mark.simulator
def test_in_process_mode_matches_the_worker(all_bmodels, tmp_path):
    """in_process=True (chip library preloaded in a fresh process) gives the worker's outputs."""
    import subprocess
    import sys

    from sophon_testlib import ROOT

    path = all_bmodels[("conv1", "bm1684", "f32")]
    inputs = tiny_onnx_models.sample_inputs("conv1", seed=17)
    np.save(tmp_path / "x.npy", inputs["images"])
    code = ("import numpy as np, sys; sys.path.insert(0, %r)\n"
            "from bmtrace.sophon import BmodelRunner\n"
            "with BmodelRunner(%r, in_process=True) as r:\n"
            "    np.save(%r, r.run({'images': np.load(%r)})['feat_Relu'])\n"
            % (ROOT, path, str(tmp_path / "y.npy"), str(tmp_path / "x.npy")))
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)
    with BmodelRunner(path) as runner:
        expected = runner.run(inputs)["feat_Relu"]
    np.testing.assert_array_equal(np.load(tmp_path / "y.npy"), expected)


def test_missing_runtime_says_how_to_get_one(monkeypatch, tmp_path):
    """With no libsophon and no simulator env, the error names both and the build script."""
    import bmtrace.sophon.runner as runner_module
    from sophon_testlib import committed_bmodels

    monkeypatch.setenv("BMTRACE_TPU_MLIR_VENV", str(tmp_path / "no-venv"))
    monkeypatch.delenv("BMTRACE_BMRT_LIB_DIR", raising=False)
    monkeypatch.setattr(runner_module, "DEVICE_LIB_DIR", str(tmp_path / "no-libsophon"))
    with pytest.raises(BmodelError, match="build_tpu_mlir_env.sh"):
        BmodelRunner(committed_bmodels()[("conv1", "bm1684", "f32")])
