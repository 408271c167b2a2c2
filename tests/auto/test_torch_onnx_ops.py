"""Inference calls: the outermost torch module, ONNX Runtime sessions; torch's interpolate."""
import numpy as np
import pytest
import torch

from .conftest import only, ops


class Net(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 4, 3)
        self.head = torch.nn.Sequential(torch.nn.ReLU(), torch.nn.Flatten())

    def forward(self, x):
        x = torch.nn.functional.interpolate(x, size=(8, 8), mode="bilinear", align_corners=False)
        return self.head(self.conv(x))


def test_only_the_outermost_module_call_is_an_inference(record):
    """Calling a model records one infer stage; its submodules and inner interpolate record nothing."""
    net = Net().eval()
    x = torch.rand(1, 3, 16, 16)
    run = record(lambda: net(x))
    assert ops(run) == [("infer", "torch.nn.Module.__call__")]
    call = only(run, "infer")
    assert call.function["params"]["model"].endswith("Net")
    np.testing.assert_allclose(call.output().load(), net(x).detach().numpy())
    np.testing.assert_array_equal(call.input("x").load(), x.numpy())


def test_a_part_of_a_seen_model_is_not_an_inference(record):
    """After the model ran, calling one of its submodules directly records nothing."""
    net = Net().eval()
    x = torch.rand(1, 3, 16, 16)

    def program():
        net(x)
        net.conv(torch.rand(1, 3, 8, 8))

    assert [s for s, _ in ops(record(program))] == ["infer"]


def test_a_model_in_training_mode_is_not_an_inference(record):
    """A module in training mode (training or calibrating) records nothing, nor anything inside it."""
    net = Net().train()
    assert ops(record(lambda: net(torch.rand(1, 3, 16, 16)))) == []


def test_interpolate_outside_a_model_is_a_resize(record):
    """torch.nn.functional.interpolate called by the program records mode, size and antialias."""
    run = record(lambda: torch.nn.functional.interpolate(torch.rand(1, 3, 10, 10), size=(5, 5), mode="bicubic",
                                                          antialias=True))
    params = only(run, "resize").function["params"]
    assert params["mode"] == "bicubic" and params["antialias"] is True and params["size"] == [5, 5]


@pytest.fixture(scope="module")
def onnx_model(tmp_path_factory):
    """A tiny ONNX model (Net exported) on disk."""
    path = str(tmp_path_factory.mktemp("onnx") / "net.onnx")
    torch.onnx.export(Net().eval(), torch.rand(1, 3, 16, 16), path, input_names=["images"], output_names=["logits"],
                      dynamo=False)
    return path


def test_onnxruntime_run_is_an_inference_with_x_and_out(record, onnx_model):
    """InferenceSession.run records its single input as x and single output as out, with the model file."""
    import onnxruntime

    session = onnxruntime.InferenceSession(onnx_model, providers=["CPUExecutionProvider"])
    x = np.random.default_rng(0).random((1, 3, 16, 16), dtype=np.float32)
    outputs = []
    run = record(lambda: outputs.append(session.run(None, {"images": x})))
    call = only(run, "infer")
    assert call.function["op"] == "onnxruntime.InferenceSession.run"
    assert call.function["params"]["model"] == "net.onnx"
    np.testing.assert_array_equal(call.input("x").load(), x)
    np.testing.assert_array_equal(call.output().load(), outputs[0][0])
