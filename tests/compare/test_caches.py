"""The per-diff shortcuts of the comparison (resolved tolerances, dtype memos, result copies, pairing by
equal names) give what the uncached code gives, and nothing of one rule set, stage or tensor leaks
into another."""
import copy
import pickle

import numpy as np
import pytest

from bmtrace.compare import Status, TensorComparison, ToleranceRules
from bmtrace.compare.pairs import dtype_name, pair_is_float
from bmtrace.compare.sketches import _channel_figures, SketchEvidence, _value_figures
from bmtrace.compare.tolerance import Tolerance


def _fields(tol):
    return (tol.atol, tol.rtol, tol.cosine)


def test_resolved_tolerance_belongs_to_its_rules():
    """Two rule sets resolving the same (stage, tensor, dtype class) each get their own answer."""
    loose = ToleranceRules(overrides={"resize": 1})
    strict = ToleranceRules()
    assert loose.resolve("resize", "out", False).atol == 1.0
    assert strict.resolve("resize", "out", False).atol == 0.0
    assert loose.resolve("resize", "out", False).atol == 1.0


def test_resolved_tolerance_keyed_by_stage_tensor_and_dtype_class():
    rules = ToleranceRules(atol=0.5, int_atol=2, overrides={"infer.logits": {"rtol": 0.1}, "resize": 3})
    assert _fields(rules.resolve("infer", "logits", True)) == (0.5, 0.1, 0.99)
    assert _fields(rules.resolve("infer", "boxes", True)) == (0.5, 0.0, 0.99)
    assert _fields(rules.resolve("infer", "logits", False)) == (2.0, 0.1, 0.99)
    assert _fields(rules.resolve("resize", "logits", True)) == (3.0, 0.0, 0.99)
    assert _fields(rules.resolve("resize", "logits", False)) == (3.0, 0.0, 0.99)
    assert _fields(rules.resolve("decode", "logits", False)) == (2.0, 0.0, 0.99)
    # the same "stage.tensor" text split in two ways names two stages
    dotted = ToleranceRules(overrides={"a": 1})
    assert dotted.resolve("a", "b.c", False).atol == 1.0
    assert dotted.resolve("a.b", "c", False).atol == 0.0


def test_changed_settings_are_resolved_again():
    rules = ToleranceRules()
    assert rules.resolve("resize", "out", False).atol == 0.0
    rules.set_override("resize", 1)
    assert rules.resolve("resize", "out", False).atol == 1.0
    rules.set_override("resize.out", {"atol": 4})
    assert rules.resolve("resize", "out", False).atol == 4.0
    assert rules.resolve("infer", "out", True).atol == 1e-3
    rules.float_settings = {"atol": 0.25}
    assert rules.resolve("infer", "out", True).atol == 0.25


def test_merged_and_reloaded_rules_resolve_their_own_settings():
    base = ToleranceRules(overrides={"resize": 1})
    assert base.resolve("resize", "out", False).atol == 1.0
    merged = base.merged(ToleranceRules(overrides={"resize": 2}))
    assert merged.resolve("resize", "out", False).atol == 2.0
    assert base.resolve("resize", "out", False).atol == 1.0
    again = ToleranceRules.from_json(merged.to_json())
    assert again.resolve("resize", "out", False).atol == 2.0


def test_a_shared_tolerance_cannot_be_changed():
    """Results share the resolved instance: changing it would change every pair's tolerance."""
    tol = ToleranceRules().resolve("s", "t", True)
    with pytest.raises(AttributeError):
        tol.atol = 1.0
    assert _fields(tol) == (1e-3, 0.0, 0.99)
    for twin in (copy.copy(tol), copy.deepcopy(tol), pickle.loads(pickle.dumps(tol))):
        assert twin == tol and isinstance(twin, Tolerance)


@pytest.mark.parametrize("a, b, expected", [
    ("uint8", "uint8", False), ("uint8", "float32", True), ("float16", "int8", True), ("int64", "int64", False),
    ("complex64", "int8", True), ("not-a-dtype", "uint8", True), (None, "uint8", True),
])
def test_pair_is_float_memo_answers_like_numpy(a, b, expected):
    for _ in range(2):  # first computed, then from the memo
        assert pair_is_float(a, b) is expected


def test_pair_is_float_takes_unhashable_descriptions():
    structured = [("x", "<f4")]
    assert pair_is_float(structured, "uint8") is False
    assert pair_is_float(structured, "float32") is True


@pytest.mark.parametrize("dtype", [np.dtype("float32"), np.dtype(">f4"), np.dtype("uint8"),
                                   np.dtype("float32", metadata={"unit": "m"}), np.dtype([("a", "<i4")]),
                                   np.dtype("<U3"), np.dtype("M8[ns]")])
def test_dtype_name_is_str(dtype):
    for _ in range(2):
        assert dtype_name(dtype) == str(dtype)
    assert dtype_name(np.dtype(">f4")) == ">f4" and dtype_name(np.dtype("float32")) == "float32"


def test_copy_of_a_result_has_its_own_notes():
    source = TensorComparison("x", Status.CLOSE, role="output", shape_a=(2,), shape_b=(2,), dtype_a="float32",
                              dtype_b="float32", basis="payload")
    source.max_abs_diff, source.cosine = 1e-4, 0.999
    source.tolerance = ToleranceRules().resolve("s", "x", True)
    source.notes.append("first")
    twin = copy.copy(source)
    twin.notes.append("second")
    twin.name = "y"
    assert source.notes == ["first"] and source.name == "x"
    assert {k: v for k, v in twin.to_json().items() if k not in ("notes", "name", "name_b")} == \
        {k: v for k, v in source.to_json().items() if k not in ("notes", "name", "name_b")}


def test_copy_of_a_result_keeps_every_slot():
    source = TensorComparison("x", Status.CLOSE)
    for number, key in enumerate(TensorComparison.__slots__):
        setattr(source, key, ("value", number))  # a distinct object in every slot
    source.notes = ["note"]
    twin = copy.copy(source)
    for key in TensorComparison.__slots__:
        if key == "notes":
            assert twin.notes == source.notes and twin.notes is not source.notes
        else:
            assert getattr(twin, key) is getattr(source, key), key


def _offset(signed):
    ev = SketchEvidence()
    a = np.linspace(1.0, 2.0, signed.size)
    _value_figures([ev], a[None], (a + signed)[None], None, 0.0)
    return ev.offset


def test_sketch_offset_found_only_when_every_difference_is_about_the_median():
    assert _offset(np.full(16, 0.5)) == 0.5
    almost = np.full(16, 0.5)
    almost[3] += 1e-5
    assert _offset(almost) is not None
    spread = np.full(16, 0.5)
    spread[3] += 0.01             # spread above 1e-3 of the median
    assert _offset(spread) is None
    mixed = np.concatenate([np.full(8, 1e-6), np.full(8, -1e-6)])  # median 0
    assert _offset(mixed) is None


def _channels(table):
    return {"channels": dict(zip(("min", "max", "mean", "std"), table)), "channel_step": 4}


def test_channel_figures_name_a_swap_and_bound_the_difference():
    rgb = [[0.0, 0.1, 0.2], [0.8, 0.9, 1.0], [0.4, 0.5, 0.6], [0.1, 0.2, 0.3]]
    bgr = [row[::-1] for row in rgb]
    ev = SketchEvidence()
    _channel_figures(ev, _channels(rgb), _channels(bgr))
    assert ev.channel_order == (2, 1, 0)
    assert ev.channel_bound == pytest.approx(0.2)
    assert ev.channel_bound == float(np.max(np.abs(np.array(rgb) - np.array(bgr))))
    ev = SketchEvidence()
    _channel_figures(ev, _channels(rgb), _channels([[v + 0.05 for v in row] for row in rgb]))
    assert ev.channel_order is None and ev.channel_bound == pytest.approx(0.05)


@pytest.mark.parametrize("bad", [
    [[0.0, 1.0], [1.0, 2.0], [0.5, 1.5], [0.1]],          # rows of different widths
    [[0.0] * 5] * 4,                                      # more than 4 channels
    [[0.0, float("nan")], [1.0, 1.0], [0.5, 0.5], [0.1, 0.1]],
    [[], [], [], []],
])
def test_channel_tables_that_are_not_tables_are_ignored(bad):
    good = [[0.0, 0.1], [0.8, 0.9], [0.4, 0.5], [0.1, 0.2]]
    ev = SketchEvidence()
    _channel_figures(ev, _channels(good), _channels(bad))
    assert ev.channel_bound is None and ev.channel_order is None
