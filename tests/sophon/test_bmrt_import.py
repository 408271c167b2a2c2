"""BMRT_SAVE_IO_TENSORS dumps -> named tensors of a run: import-bmrt and capture_bmrt_io."""
import os

import numpy as np
import pytest

import bmtrace
import tiny_onnx_models
from sophon_testlib import committed_bmodels, run_cli
from bmtrace.errors import ImportDataError
from bmtrace.sophon import BmodelRunner, capture_bmrt_io, load_bmrt_dumps, read_bmodel
from bmtrace.sophon.bmrt_import import INPUT_DUMP, OUTPUT_DUMP


def _tensors(run_path):
    run = bmtrace.open_run(run_path)
    (call,) = run.calls()
    return call, {t.name: t for t in call.inputs}, {t.name: t for t in call.outputs}


def _write_dump(path, arrays):
    with open(path, "wb") as fh:
        for array in arrays:
            fh.write(np.ascontiguousarray(array).tobytes())


# --- without the simulator: dumps written by hand from the bmodel's metadata -----------------------

def test_split_follows_bmodel_order_and_shapes(tmp_path):
    """Concatenated raw bytes are cut into the bmodel's tensors, in its order, byte for byte."""
    path = committed_bmodels()[("two_io", "bm1684", "f32")]
    net = read_bmodel(path).net()
    rng = np.random.RandomState(3)
    arrays = [rng.randn(*t.shape).astype(np.float32) for t in net.outputs]
    _write_dump(tmp_path / OUTPUT_DUMP, arrays)
    _, outputs, _ = load_bmrt_dumps(path, output_path=tmp_path / OUTPUT_DUMP)
    assert list(outputs) == net.output_names
    for got, want in zip(outputs.values(), arrays):
        assert got.tobytes() == want.tobytes() and got.shape == want.shape


def test_int8_dumps_are_dequantised_and_raw_is_kept(tmp_path):
    """int8 outputs become (q - zp) * scale, int8 inputs q / scale (input scale = 1/step), raw as name.raw."""
    path = committed_bmodels()[("two_io", "bm1684", "int8")]
    net = read_bmodel(path).net()
    rng = np.random.RandomState(4)
    raw_in = [rng.randint(-128, 128, t.shape).astype(np.int8) for t in net.inputs]
    raw_out = [rng.randint(-128, 128, t.shape).astype(np.int8) for t in net.outputs]
    _write_dump(tmp_path / INPUT_DUMP, raw_in)
    _write_dump(tmp_path / OUTPUT_DUMP, raw_out)
    inputs, outputs, meta = load_bmrt_dumps(path, tmp_path / INPUT_DUMP, tmp_path / OUTPUT_DUMP)
    for tensor, raw in zip(net.inputs, raw_in):
        np.testing.assert_array_equal(inputs[tensor.name + ".raw"], raw)
        np.testing.assert_allclose(inputs[tensor.name], raw.astype(np.float64) / tensor.scale, rtol=1e-6)
    for tensor, raw in zip(net.outputs, raw_out):
        np.testing.assert_array_equal(outputs[tensor.name + ".raw"], raw)
        np.testing.assert_allclose(outputs[tensor.name], raw.astype(np.float64) * tensor.scale, rtol=1e-6)
        assert outputs[tensor.name].dtype == np.float32
        assert meta[tensor.name + ".raw"]["raw"] and not meta[tensor.name]["raw"]


def test_size_mismatch_names_expected_and_actual_bytes(tmp_path):
    """A dump of the wrong size is refused with both byte counts in the message."""
    path = committed_bmodels()[("conv1", "bm1684", "f32")]
    (tmp_path / INPUT_DUMP).write_bytes(b"\0" * 1000)
    expected = sum(t.nbytes for t in read_bmodel(path).net().inputs)
    with pytest.raises(ImportDataError, match=r"has 1000 bytes .* need %d bytes" % expected):
        load_bmrt_dumps(path, input_path=tmp_path / INPUT_DUMP)


def test_cli_size_error_leaves_run_untouched(tmp_path):
    """import-bmrt with a wrong dump exits 2 and does not create the run."""
    path = committed_bmodels()[("conv1", "bm1684", "f32")]
    (tmp_path / INPUT_DUMP).write_bytes(b"\0" * 12)
    proc = run_cli("import-bmrt", "--bmodel", path, "--input", tmp_path / INPUT_DUMP, "--into", tmp_path / "run")
    assert proc.returncode == 2 and "12 bytes" in proc.stderr
    assert not (tmp_path / "run").exists()


def test_cli_appends_stage_to_an_existing_run(tmp_path):
    """import-bmrt adds its stage to a run that already holds records, keeping them."""
    path = committed_bmodels()[("conv1", "bm1684", "f32")]
    net = read_bmodel(path).net()
    run_path = tmp_path / "run"
    with bmtrace.run(run_path, side="port"):
        with bmtrace.sample("a.jpg"):
            with bmtrace.trace_stage("resize") as st:
                st.output(np.zeros((16, 16, 3), np.uint8))
    arrays = [np.full(t.shape, 0.5, np.float32) for t in net.inputs]
    _write_dump(tmp_path / INPUT_DUMP, arrays)
    proc = run_cli("import-bmrt", "--bmodel", path, "--input", tmp_path / INPUT_DUMP, "--into", run_path,
                   "--stage", "infer", "--sample", "a.jpg")
    assert proc.returncode == 0, proc.stderr
    run = bmtrace.open_run(run_path)
    assert run.stages() == ["resize", "infer"] and run.samples() == ["a.jpg"] and run.side == "port"
    (infer,) = run.calls(stage="infer")
    np.testing.assert_array_equal(infer.inputs[0].load(), arrays[0])


# --- with the simulator: dumps written by the real runtime ----------------------------------------

@pytest.mark.simulator
@pytest.mark.parametrize("chip", ["bm1684", "bm1684x"])
@pytest.mark.parametrize("quant", ["f32", "int8"])
def test_cli_round_trip_of_real_runtime_dumps(chip, quant, all_bmodels, tmp_path, monkeypatch):
    """Dumps the simulator writes import byte for byte: raw payloads concatenate back to the files."""
    path = all_bmodels[("two_io", chip, quant)]
    monkeypatch.chdir(tmp_path)
    with capture_bmrt_io(path, keep_dumps=True) as cap:
        with BmodelRunner(path) as runner:
            runner.run(tiny_onnx_models.sample_inputs("two_io", seed=21))
    assert cap.launched
    proc = run_cli("import-bmrt", "--bmodel", path, "--input", INPUT_DUMP, "--output", OUTPUT_DUMP,
                   "--into", "run", "--sample", "s0", cwd=str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    call, inputs, outputs = _tensors(tmp_path / "run")
    net = read_bmodel(path).net()
    suffix = ".raw" if quant == "int8" else ""
    for dump, tensors, recorded in ((INPUT_DUMP, net.inputs, inputs), (OUTPUT_DUMP, net.outputs, outputs)):
        joined = b"".join(recorded[t.name + suffix].load().tobytes() for t in tensors)
        assert joined == (tmp_path / dump).read_bytes()
    assert call.sample == "s0" and call.stage == "infer"


@pytest.mark.simulator
@pytest.mark.parametrize("chip", ["bm1684", "bm1684x"])
def test_real_int8_input_dump_dequantises_to_what_was_fed(chip, all_bmodels, tmp_path, monkeypatch):
    """The dequantised int8 input the runtime saw is within half a step of the float input fed."""
    path = all_bmodels[("two_io", chip, "int8")]
    monkeypatch.chdir(tmp_path)
    fed = tiny_onnx_models.sample_inputs("two_io", seed=22)
    with capture_bmrt_io(path) as cap:
        with BmodelRunner(path) as runner:
            runner.run(fed)
    for tensor in read_bmodel(path).net().inputs:
        step = 1.0 / tensor.scale
        assert np.abs(cap.inputs[tensor.name] - fed[tensor.name]).max() <= step / 2 + 1e-6


@pytest.mark.simulator
def test_capture_records_into_active_run_and_restores_cwd_files(all_bmodels, tmp_path, monkeypatch):
    """capture_bmrt_io records this launch (not a stale dump), then restores old dumps and the env."""
    path = all_bmodels[("conv1", "bm1684", "f32")]
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("BMRT_SAVE_IO_TENSORS", raising=False)
    (tmp_path / INPUT_DUMP).write_bytes(b"stale input")
    (tmp_path / OUTPUT_DUMP).write_bytes(b"stale output")
    fed = tiny_onnx_models.sample_inputs("conv1", seed=23)
    with BmodelRunner(path) as runner:
        with bmtrace.run(tmp_path / "run", side="port"):
            with bmtrace.sample("img0"):
                with capture_bmrt_io(path, stage="infer") as cap:
                    result = runner.run(fed)
    assert cap.recorded
    assert (tmp_path / INPUT_DUMP).read_bytes() == b"stale input"
    assert (tmp_path / OUTPUT_DUMP).read_bytes() == b"stale output"
    assert "BMRT_SAVE_IO_TENSORS" not in os.environ
    call, inputs, outputs = _tensors(tmp_path / "run")
    assert call.sample == "img0"
    np.testing.assert_array_equal(inputs["images"].load(), fed["images"])
    np.testing.assert_array_equal(outputs["feat_Relu"].load(), result["feat_Relu"])


@pytest.mark.simulator
def test_capture_with_chdir_keeps_the_working_folder_clean(all_bmodels, tmp_path, monkeypatch):
    """chdir=True makes the runtime dump into a temporary folder; the user's folder gets no files."""
    path = all_bmodels[("conv1", "bm1684", "f32")]
    monkeypatch.chdir(tmp_path)
    with BmodelRunner(path) as runner:
        with capture_bmrt_io(path, chdir=True) as cap:
            runner.run(tiny_onnx_models.sample_inputs("conv1", seed=24))
    assert cap.launched and os.getcwd() == str(tmp_path)
    assert os.listdir(tmp_path) == []


@pytest.mark.simulator
def test_multistage_dump_is_split_by_the_stage_its_size_matches(multistage_bmodel, tmp_path, monkeypatch):
    """A batch-2 launch of a 2-stage bmodel imports with the batch-2 shapes."""
    monkeypatch.chdir(tmp_path)
    batch = np.random.RandomState(25).uniform(-1, 1, (2, 3, 16, 16)).astype(np.float32)
    with capture_bmrt_io(multistage_bmodel) as cap:
        with BmodelRunner(multistage_bmodel) as runner:
            result = runner.run({"images": batch})
    np.testing.assert_array_equal(cap.inputs["images"], batch)
    np.testing.assert_array_equal(cap.outputs["feat_Relu"], result["feat_Relu"])
