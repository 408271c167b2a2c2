"""A sketch that kept every element gives the tensor back exactly; anything else gives None."""
import numpy as np
import pytest

from bmtrace.codecs.sketch import sketch, whole_array


@pytest.mark.parametrize("arr", [
    np.linspace(-3, 3, 12, dtype=np.float32).reshape(1, 12),
    np.array([[True, False, True]]),
    np.arange(6, dtype=">i4").reshape(2, 3),
    np.arange(8, dtype=np.float16),
    np.array([[0.5, 1.5, 2.5, 0.9, 3.0, 1.0]], dtype=np.float64),
])
def test_small_tensors_come_back_whole(arr):
    whole = whole_array(sketch(arr), arr.shape, str(arr.dtype))
    assert whole.dtype == arr.dtype and whole.shape == arr.shape
    assert np.array_equal(whole, arr)


def test_what_is_not_the_whole_tensor_is_refused():
    big = np.arange(1000, dtype=np.float32)  # 4 KB: the sketch keeps a sample
    assert whole_array(sketch(big), big.shape, "float32") is None
    doc = sketch(np.arange(4, dtype=np.float32))
    assert whole_array(doc, (4,), "int32") is None        # another dtype than the values were taken in
    assert whole_array(doc, (4,), "object") is None
    assert whole_array(doc, (4,), "no such dtype") is None
    assert whole_array(doc, (5,), "float32") is None      # 4 values cannot be 5 elements
    assert whole_array(dict(doc, values="!!"), (4,), "float32") is None
    assert whole_array(dict(doc, k=3), (4,), "float32") is None
    assert whole_array(None, (4,), "float32") is None
