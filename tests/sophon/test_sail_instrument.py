"""instrument_sail on the sail FAKE (tests/fakes/fake_sail.py, not real sail): Engine.process as a stage."""
import sys

import numpy as np
import pytest

import bmtrace
import tiny_onnx_models
from bmtrace.sophon import BmodelRunner, instrument_sail, uninstrument_sail

GRAPH = "two_io"
X_SHAPE, ALPHA_SHAPE = (1, 3, 8, 8), (1, 3, 4, 4)


def two_output_net(sail):
    """Outputs in bmodel order zeta_Add, alpha_MaxPool: sorted by name they swap."""
    def fn(raw):
        x, y = raw
        return [x + y, (x * y)[..., ::2, ::2]]

    return sail.FakeNet(GRAPH, [("x", X_SHAPE, sail.Dtype.BM_FLOAT32, 1.0), ("y", X_SHAPE, sail.Dtype.BM_FLOAT32, 1.0)],
                        [("zeta_Add", X_SHAPE, sail.Dtype.BM_FLOAT32, 1.0),
                         ("alpha_MaxPool", ALPHA_SHAPE, sail.Dtype.BM_FLOAT32, 1.0)], fn)


def int8_net(sail):
    """INT8 input (scale 50 = 1/step) and INT8 output (scale 0.1)."""
    def fn(raw):
        return [np.clip(raw[0].astype(np.int16) // 2, -128, 127).astype(np.int8)]

    return sail.FakeNet("q", [("data", (1, 4), sail.Dtype.BM_INT8, 50.0)],
                        [("logits_f32", (1, 4), sail.Dtype.BM_INT8, 0.1)], fn)


def _inputs():
    return tiny_onnx_models.sample_inputs("two_io", seed=31)


def _only_call(run_path, stage="infer"):
    calls = bmtrace.open_run(run_path).calls(stage=stage)
    assert len(calls) == 1
    return calls[0]


def test_process_is_recorded_by_name(fake_sail, tmp_path):
    """Each process() call becomes one "infer" call with inputs and outputs named as in the bmodel."""
    instrument_sail(fake_sail)
    engine = fake_sail.Engine(two_output_net(fake_sail), 0, fake_sail.IOMode.SYSIO)
    fed = _inputs()
    with bmtrace.run(tmp_path / "run", side="port"):
        result = engine.process(GRAPH, fed)
    call = _only_call(tmp_path / "run")
    assert [t.name for t in call.inputs] == ["x", "y"]
    for tensor in call.inputs:
        np.testing.assert_array_equal(tensor.load(), fed[tensor.name])
    for tensor in call.outputs:
        np.testing.assert_array_equal(tensor.load(), result[tensor.name])
    assert {t.meta["sail_graph"] for t in call.inputs + call.outputs} == {GRAPH}


def test_sorted_dict_permutes_outputs_and_records_keep_bmodel_order(fake_sail, tmp_path):
    """sail's sorted output dict permutes a 2-output model; records stay in bmodel order and say so."""
    instrument_sail(fake_sail)
    engine = fake_sail.Engine(two_output_net(fake_sail))
    with bmtrace.run(tmp_path / "run"):
        result = engine.process(GRAPH, _inputs())
    bmodel_order = engine.get_output_names(GRAPH)
    # The bug users hit: list(outputs.values())[0] is not the bmodel's first output.
    assert list(result) != bmodel_order
    assert list(result.values())[0].shape == ALPHA_SHAPE
    call = _only_call(tmp_path / "run")
    assert [t.name for t in call.outputs] == bmodel_order
    assert call.outputs[0].shape == X_SHAPE
    for tensor in call.outputs:
        assert tensor.meta["bmodel_index"] == bmodel_order.index(tensor.name)
        assert tensor.meta["sail_dict_index"] == list(result).index(tensor.name)


def test_int8_model_records_float_inputs_and_scaled_outputs(fake_sail, tmp_path):
    """For INT8 IO the record holds what the program passed and got, plus the scales sail used."""
    instrument_sail(fake_sail)
    engine = fake_sail.Engine(int8_net(fake_sail))
    fed = {"data": np.array([[0.5, -0.5, 1.0, 2.5]], np.float32)}
    with bmtrace.run(tmp_path / "run"):
        result = engine.process("q", fed)
    call = _only_call(tmp_path / "run")
    (data,) = call.inputs
    (logits,) = call.outputs
    np.testing.assert_array_equal(data.load(), fed["data"])
    assert data.meta["sail_dtype"] == "BM_INT8" and data.meta["sail_scale"] == 50.0
    np.testing.assert_array_equal(logits.load(), result["logits_f32"])
    assert logits.meta["sail_scale"] == pytest.approx(0.1)
    # fake sail quantised 2.5 * 50 = 125, the net halved it: 62 * 0.1
    assert result["logits_f32"][0, 3] == pytest.approx(6.2)


def test_tensor_overload_records_output_tensors(fake_sail, tmp_path):
    """process(graph, {name: Tensor}, {name: Tensor}) records the filled output Tensors by name."""
    instrument_sail(fake_sail)
    engine = fake_sail.Engine(two_output_net(fake_sail))
    fed = _inputs()
    in_tensors = {k: fake_sail.Tensor(v) for k, v in fed.items()}
    out_tensors = {"zeta_Add": fake_sail.Tensor(X_SHAPE), "alpha_MaxPool": fake_sail.Tensor(ALPHA_SHAPE)}
    with bmtrace.run(tmp_path / "run"):
        assert engine.process(GRAPH, in_tensors, out_tensors) is None
    call = _only_call(tmp_path / "run")
    assert [t.name for t in call.outputs] == ["zeta_Add", "alpha_MaxPool"]
    for tensor in call.outputs:
        np.testing.assert_array_equal(tensor.load(), out_tensors[tensor.name].asnumpy())
    np.testing.assert_array_equal(call.outputs[0].load(), fed["x"] + fed["y"])


def test_no_active_run_changes_nothing(fake_sail, tmp_path):
    """Without a run, an instrumented process() returns exactly what the original does."""
    engine = fake_sail.Engine(two_output_net(fake_sail))
    before = engine.process(GRAPH, _inputs())
    instrument_sail(fake_sail)
    after = engine.process(GRAPH, _inputs())
    assert list(before) == list(after)
    for name in before:
        np.testing.assert_array_equal(before[name], after[name])


def test_uninstrument_restores_the_original_method(fake_sail):
    """uninstrument_sail puts the original Engine.process back."""
    original = fake_sail.Engine.__dict__["process"]
    instrument_sail(fake_sail)
    assert fake_sail.Engine.__dict__["process"] is not original
    assert uninstrument_sail(fake_sail) is True
    assert fake_sail.Engine.__dict__["process"] is original


def test_instrumenting_twice_records_once(fake_sail, tmp_path):
    """A second instrument_sail call is a no-op: one process() call still gives one record."""
    assert instrument_sail(fake_sail) is True
    assert instrument_sail(fake_sail) is False
    engine = fake_sail.Engine(two_output_net(fake_sail))
    with bmtrace.run(tmp_path / "run"):
        engine.process(GRAPH, _inputs())
    _only_call(tmp_path / "run")


def _importable_sophon_sail(tmp_path, monkeypatch):
    """Make `import sophon.sail` resolve to the fake (real sail is a compiled module), not yet imported."""
    package = tmp_path / "site" / "sophon"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "sail.py").write_text("import sys, fake_sail\nsys.modules[__name__] = fake_sail\n")
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    for name in ("sophon", "sophon.sail"):
        monkeypatch.delitem(sys.modules, name, raising=False)


def test_patch_waits_for_the_program_to_import_sail(tmp_path, monkeypatch):
    """Called before `import sophon.sail`, instrument_sail patches the module when it gets imported."""
    import fake_sail

    _importable_sophon_sail(tmp_path, monkeypatch)
    try:
        assert instrument_sail() is False
        assert "_bmtrace_original_process" not in fake_sail.Engine.__dict__
        import sophon.sail  # noqa: F401  (the program's own import)

        assert "_bmtrace_original_process" in fake_sail.Engine.__dict__
    finally:
        uninstrument_sail(fake_sail)


@pytest.mark.simulator
def test_sorted_dict_permutation_with_a_real_bmodel(fake_sail, all_bmodels, onnx_path, tmp_path):
    """Fake sail over the real two_io bmodel: records match onnxruntime in bmodel order, dict order differs."""
    import onnxruntime

    with BmodelRunner(all_bmodels[("two_io", "bm1684", "f32")]) as runner:
        def fn(raw):
            return list(runner.run(dict(zip(runner.input_names, raw)), raw=True).values())

        net = fake_sail.FakeNet(GRAPH, [(t.name, t.shape, fake_sail.Dtype.BM_FLOAT32, 1.0) for t in runner.net.inputs],
                                [(t.name, t.shape, fake_sail.Dtype.BM_FLOAT32, 1.0) for t in runner.net.outputs], fn)
        instrument_sail(fake_sail)
        engine = fake_sail.Engine(net)
        fed = _inputs()
        with bmtrace.run(tmp_path / "run"):
            result = engine.process(GRAPH, fed)
    expected = onnxruntime.InferenceSession(onnx_path("two_io"), providers=["CPUExecutionProvider"]).run(None, fed)
    call = _only_call(tmp_path / "run")
    for tensor, want in zip(call.outputs, expected):  # ONNX order == bmodel order
        assert np.abs(tensor.load() - want).max() < 1e-3
    assert list(result.values())[0].shape == expected[1].shape  # the sorted dict swapped them


def test_uninstrument_cancels_a_patch_still_waiting_for_the_import(tmp_path, monkeypatch):
    """uninstrument_sail() before the program imports sail leaves the later-imported module unpatched."""
    import fake_sail

    _importable_sophon_sail(tmp_path, monkeypatch)
    assert instrument_sail() is False
    assert uninstrument_sail() is True
    import sophon.sail  # noqa: F401

    assert "_bmtrace_original_process" not in fake_sail.Engine.__dict__
