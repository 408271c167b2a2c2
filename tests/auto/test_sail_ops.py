"""sail calls (against the fake of sail's documented API): decode, resize, pad, normalize, infer."""
import os
import sys

import numpy as np
import pytest

from .conftest import basename, only, ops
from . import sail_media

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(__file__)), "fakes"))
import fake_sail  # noqa: E402


@pytest.fixture
def sail(monkeypatch):
    """The fake sail, importable as sophon.sail, with Decoder and Bmcv."""
    module = fake_sail.install(monkeypatch)
    return sail_media.install(monkeypatch, module)


def _engine(sail):
    net = fake_sail.FakeNet("net", [("in0", (1, 3, 4, 4), sail.Dtype.BM_FLOAT32, 1.0)],
                            [("out0", (1, 3), sail.Dtype.BM_FLOAT32, 1.0)],
                            lambda raw: [raw[0].mean(axis=(2, 3))])
    return sail.Engine(net, 0, sail.IOMode.SYSIO)


def test_a_sail_pipeline_records_each_kind(record, sail, images):
    """Decoder.read, Bmcv.resize, convert_to and Engine.process record decode, resize, normalize, infer."""
    handle = sail.Handle(0)
    bmcv = sail.Bmcv(handle)
    engine = _engine(sail)
    result = []

    def program():
        decoder = sail.Decoder(images[0], True, 0)
        image = sail.BMImage(np.zeros((1, 1, 3), np.uint8))
        decoder.read(handle, image)
        small = bmcv.resize(image, 4, 4, sail.BMCV_INTER_LINEAR)
        tensor = bmcv.convert_to(small, ((1 / 255, 0), (1 / 255, 0), (1 / 255, 0)))
        result.append(engine.process("net", {"in0": tensor.asnumpy()}))

    run = record(program, libs="sail")
    assert ops(run) == [("decode", "sail.Decoder.read"), ("resize", "sail.Bmcv.resize"),
                        ("normalize", "sail.Bmcv.convert_to"), ("infer", "sail.Engine.process")]
    assert run.samples() == [basename(images[0])]
    assert only(run, "resize").function["params"]["resize_alg"] == sail.BMCV_INTER_LINEAR
    assert only(run, "normalize").function["params"]["alpha_beta"][0] == [1 / 255, 0]
    np.testing.assert_array_equal(only(run, "infer").output().load(), result[0]["out0"])


def test_convert_to_into_an_output_tensor_records_the_filled_tensor(record, sail, images):
    """convert_to(in, out, alpha_beta) records the output tensor it filled."""
    bmcv = sail.Bmcv(sail.Handle(0))
    image = sail.BMImage(np.full((2, 2, 3), 10, np.uint8))
    out = sail.Tensor((1, 3, 2, 2))
    run = record(lambda: bmcv.convert_to(image, out, ((2, 1), (2, 1), (2, 1))), libs="sail")
    np.testing.assert_array_equal(only(run, "normalize").output().load(), np.full((1, 3, 2, 2), 21, np.float32))


def test_crop_and_resize_padding_is_a_pad_with_its_padding(record, sail):
    """crop_and_resize_padding records as pad with the crop, the size and the pad colour."""
    bmcv = sail.Bmcv(sail.Handle(0))
    image = sail.BMImage(np.full((8, 8, 3), 200, np.uint8))
    padding = sail.PaddingAtrr(0, 2, 8, 4, 114, 114, 114)
    run = record(lambda: bmcv.crop_and_resize_padding(image, 0, 0, 8, 8, 8, 8, padding), libs="sail")
    params = only(run, "pad").function["params"]
    assert params["padding"]["padding_r"] == 114 and params["resize"] == [8, 8]
