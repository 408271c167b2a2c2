"""The codec catalogue: each kind of value is recorded and decoded back into the same kind of object."""
from collections import namedtuple

import numpy as np
import pytest
import torch
from PIL import Image

from bmtrace import codecs
from bmtrace.codecs import CODECS, Codec, UndecodableValue, decode, decode_values
from bmtrace.replayer.inputs import Unreplayable, leaf_value, rebuild_values


def test_catalogue_is_a_tuple_of_codecs_ending_with_a_catch_all():
    """Every catalogue entry is a Codec, names are unique and the last one takes any value."""
    assert isinstance(CODECS, tuple) and all(isinstance(c, Codec) for c in CODECS)
    assert len({c.name for c in CODECS}) == len(CODECS)
    assert CODECS[-1].encode(object(), "x", {}) is not None


@pytest.mark.parametrize("value", [
    None, "text", b"\x00\xffraw", True, 7, -2.5, 1 + 2j, np.float32(1.5), np.int16(-3), np.bool_(True),
], ids=repr)
def test_plain_values_decode_to_the_same_type_and_value(record, value):
    """None, str, bytes, Python and numpy scalars come back with their type and value."""
    (leaf,) = record(v=value)
    back = decode(leaf)
    assert type(back) is type(value) and back == value


def test_bytearray_decodes_as_bytearray(record):
    """A bytearray is stored as bytes but rebuilt as a bytearray."""
    (leaf,) = record(v=bytearray(b"abc"))
    assert decode(leaf) == bytearray(b"abc") and isinstance(decode(leaf), bytearray)


def test_numpy_array_decodes_bit_identical(record):
    """A numpy array decodes to an equal array of the same dtype and shape."""
    arr = np.arange(12, dtype=np.float16).reshape(3, 4)
    (leaf,) = record(v=arr)
    back = decode(leaf)
    assert isinstance(back, np.ndarray) and back.dtype == arr.dtype
    np.testing.assert_array_equal(back, arr)


def test_torch_tensor_decodes_as_torch_tensor_with_bfloat16_kept(record):
    """torch tensors come back as CPU torch tensors, bfloat16 included."""
    t = torch.linspace(-1, 1, 6, dtype=torch.bfloat16).reshape(2, 3)
    (leaf,) = record(v=t)
    back = decode(leaf)
    assert isinstance(back, torch.Tensor) and back.dtype == torch.bfloat16
    assert torch.equal(back, t)


def test_pil_image_decodes_as_pil_image_in_its_mode(record):
    """A PIL image comes back as a PIL image with the same mode and pixels."""
    img = Image.fromarray(np.random.RandomState(0).randint(0, 256, (5, 7, 3), dtype=np.uint8))
    (leaf,) = record(v=img)
    back = decode(leaf)
    assert isinstance(back, Image.Image) and back.mode == "RGB"
    np.testing.assert_array_equal(np.asarray(back), np.asarray(img))


def test_template_meta_chooses_the_representation(record):
    """A numpy leaf decoded against a torch template becomes a torch tensor (one side's value, the other's type)."""
    (numpy_leaf,) = record(v=np.ones((2, 2), np.float32))
    (torch_leaf,) = record(v=torch.zeros(2, 2))
    back = decode(numpy_leaf, template=torch_leaf)
    assert isinstance(back, torch.Tensor) and back.sum().item() == 4


def test_nested_containers_decode_into_the_same_structure(record):
    """dict/list/tuple nest back as they were, namedtuples as tuples, empty containers included."""
    Point = namedtuple("Point", "x y")
    value = {"a": [1, (2.5, "s")], "b": Point(np.int32(3), None), "empty": [], "e2": {}}
    leaves = record(v=value)
    back = decode_values(leaves)["v"]
    assert back == {"a": [1, (2.5, "s")], "b": (3, None), "empty": [], "e2": {}}
    assert isinstance(back["a"][1], tuple)


def test_sail_objects_are_recognised_in_one_place():
    """sophon.values re-exports the codec module's sail detection instead of keeping its own."""
    from bmtrace.codecs import sail_values
    from bmtrace.sophon import values

    assert values.is_sail_object is sail_values.is_sail_object and values.sail_to_array is sail_values.sail_to_array


def test_sail_tensor_decodes_to_its_host_array(record):
    """A sail Tensor (fake) decodes to the float16 host array it held, with its sail meta."""
    import fake_sail as sail

    data = np.array([[0.5, -1.25]], np.float16)
    (leaf,) = record(v=sail.Tensor(data.view(np.uint16), sail.Dtype.BM_FLOAT16))
    assert leaf.meta["sail_type"] == "Tensor"
    back = decode(leaf)
    assert back.dtype == np.float16
    np.testing.assert_array_equal(back, data)


def test_opaque_object_refuses_to_decode(record):
    """An object recorded as text raises UndecodableValue, and replay's Unreplayable names the stage."""
    (leaf,) = record(v=object())
    with pytest.raises(UndecodableValue, match="cannot be rebuilt"):
        decode(leaf)
    with pytest.raises(Unreplayable, match="stage 's'.*inputs="):
        leaf_value(leaf)


def test_replayer_functions_use_the_catalogue(record):
    """rebuild_values and leaf_value give what the catalogue's decode gives."""
    leaves = record(a=np.arange(3), b=[1, "x"])
    values = rebuild_values(leaves)
    assert list(values) == ["a", "b"] and values["b"] == [1, "x"]
    np.testing.assert_array_equal(leaf_value(leaves[0]), np.arange(3))


def test_a_new_codec_is_used_once_added_to_the_catalogue(monkeypatch):
    """Adding one codec to the tuple is enough for flatten to use it before the catch-all."""
    class Celsius:
        def __init__(self, degrees):
            self.degrees = degrees

    class CelsiusCodec(Codec):
        name = "celsius"

        def encode(self, value, name, meta):
            if isinstance(value, Celsius):
                return codecs.Leaf.of_scalar(name, float(value.degrees), dict(meta, unit="C"))
            return None

    monkeypatch.setattr(codecs, "CODECS", CODECS[:-1] + (CelsiusCodec(), CODECS[-1]))
    (leaf,) = codecs.flatten(Celsius(21), "t")
    assert leaf.kind == "scalar" and leaf.value == 21.0 and leaf.meta == {"unit": "C"}


def test_codecs_before_numpy_decline_a_plain_ndarray():
    """The plain-ndarray fast path in encode_leaf is sound: every earlier codec declines an ndarray."""
    position = next(i for i, c in enumerate(CODECS) if c.name == "numpy")
    for codec in CODECS[:position]:
        for arr in (np.zeros(3), np.array(5), np.zeros(0, object)):
            assert codec.encode(arr, "v", {}) is None, codec
