"""Tiny ONNX models for the bmodel fixtures: built with onnx.helper, deterministic weights.

- ``conv1``: one input ``images`` (1,3,16,16) -> Conv 3x3 (4 channels) + Relu -> ``feat`` (1,4,16,16).
- ``two_io``: inputs ``x`` and ``y`` (1,3,8,8) -> ``zeta`` = Conv(x) + Sigmoid(y) summed over channels
  (1,4,8,8) and ``alpha`` = MaxPool(x * y) (1,3,4,4). Output order is zeta, alpha: sorted by name
  (what sail's std::map-backed output dict does) it becomes alpha, zeta, so a program using
  ``list(outputs.values())`` gets them permuted. Their shapes differ so a permutation is visible.

Opset 13 and IR version 8 so that tpu-mlir's bundled onnx 1.14 accepts them.
"""
from __future__ import annotations

import numpy as np

OPSET = 13
IR_VERSION = 8

MODELS = {
    "conv1": {"inputs": {"images": (1, 3, 16, 16)}, "outputs": ["feat"]},
    "two_io": {"inputs": {"x": (1, 3, 8, 8), "y": (1, 3, 8, 8)}, "outputs": ["zeta", "alpha"]},
}


def _finish(graph):
    import onnx
    from onnx import helper

    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                              producer_name="bmtrace-fixtures")
    model.ir_version = IR_VERSION
    onnx.checker.check_model(model)
    return model


def build_conv1():
    """1 input / 1 output convolution."""
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.RandomState(0)
    weight = (rng.randn(4, 3, 3, 3) * 0.3).astype(np.float32)
    bias = (rng.randn(4) * 0.1).astype(np.float32)
    nodes = [
        helper.make_node("Conv", ["images", "w", "b"], ["conv"], pads=[1, 1, 1, 1], kernel_shape=[3, 3]),
        helper.make_node("Relu", ["conv"], ["feat"]),
    ]
    graph = helper.make_graph(
        nodes, "conv1",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 3, 16, 16])],
        [helper.make_tensor_value_info("feat", TensorProto.FLOAT, [1, 4, 16, 16])],
        initializer=[numpy_helper.from_array(weight, "w"), numpy_helper.from_array(bias, "b")],
    )
    return _finish(graph)


def build_two_io():
    """2 inputs / 2 outputs whose sorted names differ from their bmodel order."""
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.RandomState(1)
    weight = (rng.randn(4, 3, 3, 3) * 0.3).astype(np.float32)
    bias = (rng.randn(4) * 0.1).astype(np.float32)
    nodes = [
        helper.make_node("Conv", ["x", "w", "b"], ["cx"], pads=[1, 1, 1, 1], kernel_shape=[3, 3]),
        helper.make_node("Sigmoid", ["y"], ["sy"]),
        helper.make_node("ReduceSum", ["sy", "axes"], ["sy_sum"], keepdims=1),  # opset 13: axes input
        helper.make_node("Add", ["cx", "sy_sum"], ["zeta"]),
        helper.make_node("Mul", ["x", "y"], ["xy"]),
        helper.make_node("MaxPool", ["xy"], ["alpha"], kernel_shape=[2, 2], strides=[2, 2]),
    ]
    graph = helper.make_graph(
        nodes, "two_io",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8]),
         helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3, 8, 8])],
        [helper.make_tensor_value_info("zeta", TensorProto.FLOAT, [1, 4, 8, 8]),
         helper.make_tensor_value_info("alpha", TensorProto.FLOAT, [1, 3, 4, 4])],
        initializer=[numpy_helper.from_array(weight, "w"), numpy_helper.from_array(bias, "b"),
                     numpy_helper.from_array(np.array([1], np.int64), "axes")],
    )
    return _finish(graph)


BUILDERS = {"conv1": build_conv1, "two_io": build_two_io}


def sample_inputs(model_name: str, seed: int = 0) -> dict:
    """Deterministic float32 inputs in [-1, 1) for a model, keyed by input name."""
    rng = np.random.RandomState(seed)
    return {
        name: rng.uniform(-1.0, 1.0, size=shape).astype(np.float32)
        for name, shape in MODELS[model_name]["inputs"].items()
    }
