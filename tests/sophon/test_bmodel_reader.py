"""read_bmodel and `bmtrace bmodel-info`: facts from the file, and clear errors for bad files."""
import json
import os
import re
import shutil
import struct
import subprocess

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import tiny_onnx_models
from sophon_testlib import ENV_HINT, committed_bmodels, run_cli
from bmtrace.errors import BmodelError
from bmtrace.sophon import read_bmodel

COMMITTED = sorted(committed_bmodels().items())


def _onnx_output_shapes(model_name, onnx_path):
    import onnx

    graph = onnx.load(onnx_path(model_name)).graph
    return [(o.name, tuple(d.dim_value for d in o.type.tensor_type.shape.dim)) for o in graph.output]


@pytest.mark.parametrize("key,path", COMMITTED, ids=[os.path.basename(p) for _, p in COMMITTED])
def test_committed_fixture_matches_its_onnx_model(key, path, onnx_path):
    """Each committed bmodel has the chip, IO names, shapes and dtypes its ONNX source and options imply."""
    model_name, chip, quant = key
    model = read_bmodel(path)
    assert model.chip == chip.upper()
    net = model.net()
    assert net.name == model_name
    spec = tiny_onnx_models.MODELS[model_name]["inputs"]
    assert [(t.name, t.shape) for t in net.inputs] == [(n, tuple(s)) for n, s in spec.items()]
    outputs = _onnx_output_shapes(model_name, onnx_path)
    # tpu-mlir renames outputs "<onnx name>_<op>" but keeps the ONNX order.
    assert [t.name.split("_")[0] for t in net.outputs] == [name for name, _ in outputs]
    assert [t.shape for t in net.outputs] == [shape for _, shape in outputs]
    if quant == "f32":
        assert {t.dtype for t in net.inputs + net.outputs} == {"float32"}
    else:
        # inputs span [-1, 1): signed; a Relu output is non-negative, so tpu-mlir may pick uint8
        assert {t.dtype for t in net.inputs} == {"int8"}
        assert {t.dtype for t in net.outputs} <= {"int8", "uint8"}


def test_int8_input_scale_is_the_reciprocal_of_the_step():
    """INT8 inputs in [-1, 1) get a scale near 127 (1/step), outputs a small step-sized scale."""
    net = read_bmodel(committed_bmodels()[("two_io", "bm1684", "int8")]).net()
    for tensor in net.inputs:
        assert 100 < tensor.scale < 140
    for tensor in net.outputs:
        assert 0 < tensor.scale < 1


def _model_tool_info(venv, path):
    """Parse `model_tool --info` into comparable facts."""
    proc = subprocess.run([os.path.join(venv, "bin", "model_tool"), "--info", path], capture_output=True,
                          text=True, check=True)
    text = proc.stdout
    facts = {"chip": re.search(r"^chip: (\S+)", text, re.M).group(1),
             "version": re.search(r"^bmodel version: (\S+)", text, re.M).group(1),
             "kernel": re.search(r"^kernel_module name: ?(.*)$", text, re.M).group(1).strip(),
             "nets": []}
    for line in text.splitlines():
        net = re.match(r"net \d+: \[(.+)\]\s+(\w+)", line)
        if net:
            facts["nets"].append({"name": net.group(1), "dynamic": net.group(2) == "dynamic", "stages": []})
        stage = re.match(r"stage \d+, core num: (\d+)", line)
        if stage:
            facts["nets"][-1]["stages"].append({"core_num": int(stage.group(1)), "io": []})
        io = re.match(r"(input|output): (.+), \[([\d, ]*)\], (\w+), scale: ([^,]+), zero_point: (-?\d+)", line)
        if io:
            facts["nets"][-1]["stages"][-1]["io"].append((
                io.group(1), io.group(2), tuple(int(d) for d in io.group(3).split(",") if d.strip()),
                io.group(4), float(io.group(5)), int(io.group(6))))
    return facts


@pytest.mark.simulator
def test_reader_facts_equal_model_tool_info(tpu_mlir_venv, all_bmodels, combined_bmodel, multistage_bmodel):
    """Every fixture (BM1684/BM1684X, F32/INT8, 2 networks, 2 stages): read_bmodel agrees with model_tool --info."""
    assert len(all_bmodels) == 8
    cases = sorted(all_bmodels.items()) + [("combined", combined_bmodel), ("multistage", multistage_bmodel)]
    for key, path in cases:
        tool = _model_tool_info(tpu_mlir_venv, path)
        model = read_bmodel(path)
        assert model.chip == tool["chip"], key
        assert "%s.%s" % (model.type, model.version) == tool["version"], key
        assert (model.kernel_module or "") == tool["kernel"], key
        assert [n.name for n in model.networks] == [n["name"] for n in tool["nets"]], key
        assert len(model.networks) == (2 if key == "combined" else 1)
        assert len(model.networks[0].stages) == (2 if key == "multistage" else 1)
        for net, tool_net in zip(model.networks, tool["nets"]):
            assert len(net.stages) == len(tool_net["stages"]), key
            for stage, tool_stage in zip(net.stages, tool_net["stages"]):
                assert stage.is_dynamic == tool_net["dynamic"]
                assert stage.core_num == tool_stage["core_num"]
                ours = [(role, t.name, t.shape, t.dtype, t.zero_point)
                        for role, tensors in (("input", stage.inputs), ("output", stage.outputs))
                        for t in tensors]
                theirs = [(r, n, s, d, z) for r, n, s, d, _, z in tool_stage["io"]]
                assert ours == theirs, key
                scales = [t.scale for t in stage.inputs + stage.outputs]
                # model_tool prints 6 significant digits
                np.testing.assert_allclose(scales, [io[4] for io in tool_stage["io"]], rtol=1e-5)


def test_simulator_tests_skip_with_build_instructions():
    """The skip message of the simulator tier names the script that builds the env."""
    assert "scripts/build_tpu_mlir_env.sh" in ENV_HINT


# --- errors --------------------------------------------------------------------------------------

@pytest.fixture
def sample_bmodel(tmp_path):
    path = tmp_path / "model.bmodel"
    shutil.copyfile(committed_bmodels()[("two_io", "bm1684", "f32")], path)
    return path


def test_non_bmodel_file_is_rejected_by_magic(onnx_path):
    """An ONNX file is reported as not a bmodel."""
    with pytest.raises(BmodelError, match="not a bmodel"):
        read_bmodel(onnx_path("conv1"))


def test_missing_file_is_a_bmodel_error(tmp_path):
    """A missing path raises BmodelError naming the path."""
    with pytest.raises(BmodelError, match="nothing-here.bmodel"):
        read_bmodel(tmp_path / "nothing-here.bmodel")


@pytest.mark.parametrize("keep", [10, 40, 64, 1000])
def test_truncated_file_is_reported_as_truncated(sample_bmodel, keep):
    """A file cut inside the header or the model description says it is truncated."""
    data = sample_bmodel.read_bytes()
    sample_bmodel.write_bytes(data[:keep])
    with pytest.raises(BmodelError, match="truncated"):
        read_bmodel(sample_bmodel)


def test_truncated_binary_section_is_reported(sample_bmodel):
    """A file missing the end of its binary blob is reported as truncated with both sizes."""
    data = sample_bmodel.read_bytes()
    sample_bmodel.write_bytes(data[:-100])
    with pytest.raises(BmodelError, match=r"truncated: expected %d bytes .* found %d" % (len(data), len(data) - 100)):
        read_bmodel(sample_bmodel)


def test_scrambled_description_is_reported_as_encrypted_or_corrupted(sample_bmodel):
    """A model description replaced by cipher-like bytes gives the encrypted-or-corrupted error."""
    data = bytearray(sample_bmodel.read_bytes())
    header, fb_size = struct.unpack_from("<II", data, 4)
    rng = np.random.RandomState(7)
    data[header:header + fb_size] = rng.randint(0, 256, fb_size).astype(np.uint8).tobytes()
    sample_bmodel.write_bytes(bytes(data))
    with pytest.raises(BmodelError, match="encrypted .* or corrupted"):
        read_bmodel(sample_bmodel)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.integers(0, 10 ** 6), st.integers(0, 255)), min_size=1, max_size=8))
def test_random_corruption_never_escapes_as_another_error(sample_bmodel, edits):
    """Flipping bytes of the description either still parses or raises BmodelError, never anything else."""
    original = sample_bmodel.read_bytes()
    header, fb_size = struct.unpack_from("<II", original, 4)
    data = bytearray(original)
    for position, value in edits:
        data[header + position % fb_size] = value
    corrupted = sample_bmodel.with_name("corrupted.bmodel")
    corrupted.write_bytes(bytes(data))
    try:
        read_bmodel(corrupted)
    except BmodelError:
        pass


def test_net_lookup_lists_available_networks(sample_bmodel):
    """Asking for an unknown network names the ones the file has."""
    with pytest.raises(BmodelError, match="two_io"):
        read_bmodel(sample_bmodel).net("resnet18")


# --- CLI -----------------------------------------------------------------------------------------

def test_cli_json_matches_reader():
    """`bmtrace bmodel-info FILE --json` prints what read_bmodel reads."""
    path = committed_bmodels()[("two_io", "bm1684", "int8")]
    proc = run_cli("bmodel-info", path, "--json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == json.loads(json.dumps(read_bmodel(path).to_dict()))


def test_cli_text_lists_every_tensor_with_scale():
    """The text form shows chip, each IO tensor and the scales of quantised ones."""
    path = committed_bmodels()[("two_io", "bm1684", "int8")]
    proc = run_cli("bmodel-info", path)
    assert proc.returncode == 0, proc.stderr
    net = read_bmodel(path).net()
    assert "BM1684" in proc.stdout
    for tensor in net.inputs + net.outputs:
        line = next(l for l in proc.stdout.splitlines() if " %s " % tensor.name in l)
        assert "int8" in line and "scale=" in line


def test_cli_error_exit_code_for_non_bmodel(onnx_path):
    """A non-bmodel gives exit code 2 and a message on stderr, no traceback."""
    proc = run_cli("bmodel-info", onnx_path("conv1"))
    assert proc.returncode == 2
    assert "not a bmodel" in proc.stderr and "Traceback" not in proc.stderr
