"""The --json document: contract key names, types, and strict JSON."""
import io
import json

import numpy as np
import pytest

import bmtrace
from bmtrace import diff
from bmtrace.report.json_doc import CONTRACT_KEYS, STAGE_KEYS, TENSOR_KEYS, dumps, validate, write
from .diff_helpers import record


def _doc(runs, **options):
    return diff(runs("a"), runs("b", **options)).to_json()


def test_top_level_keys(runs):
    """Every contract key is present."""
    doc = _doc(runs, resize_shift=1)
    assert set(CONTRACT_KEYS) <= set(doc)
    assert set(CONTRACT_KEYS) == {"run_a", "run_b", "aligned", "first_divergence", "stages",
                                  "hints", "environment"}


def test_stage_and_tensor_keys(runs):
    """Stage entries and tensor entries carry the contract keys."""
    doc = _doc(runs, resize_shift=1)
    assert set(STAGE_KEYS) == {"sample", "stage", "occurrence", "status", "tensors"}
    assert set(TENSOR_KEYS) == {"name", "status", "max_abs_diff", "mean_abs_diff", "cosine",
                                "equal_ratio", "shape_a", "shape_b", "dtype_a", "dtype_b"}
    for stage in doc["stages"]:
        assert set(STAGE_KEYS) <= set(stage)
        for tensor in stage["tensors"]:
            assert set(TENSOR_KEYS) <= set(tensor)
    assert validate(doc) == []


def test_first_divergence_names_sample_stage_tensor(runs):
    """first_divergence is an object with sample, stage and tensor."""
    doc = _doc(runs, resize_shift=1)
    assert doc["aligned"] is False
    first = doc["first_divergence"]
    assert (first["sample"], first["stage"], first["tensor"]) == ("a.jpg", "resize", "out")


def test_aligned_document_has_null_first_divergence_and_empty_hints(runs):
    """An aligned diff: aligned true, first_divergence null, hints an empty list."""
    doc = _doc(runs)
    assert doc["aligned"] is True
    assert doc["first_divergence"] is None
    assert doc["hints"] == []


def test_stage_statuses_use_the_contract_words(runs):
    """Stage statuses are drawn from aligned/diverged/only_in_a/only_in_b/error."""
    a = runs("a", ["a.jpg", "b.jpg"])
    b = runs("b", ["a.jpg", "c.jpg"], fail_on="a.jpg")
    doc = diff(a, b).to_json()
    assert {s["status"] for s in doc["stages"]} == {"aligned", "error", "only_in_a", "only_in_b"}


def test_shapes_are_lists_and_metrics_numbers(runs):
    """shape_a/shape_b are JSON lists, metrics plain floats."""
    doc = _doc(runs, resize_shift=1)
    resize = [s for s in doc["stages"] if s["stage"] == "resize"][0]
    out = [t for t in resize["tensors"] if t["name"] == "out"][0]
    assert out["shape_a"] == [12, 16, 3]
    assert out["dtype_a"] == "uint8"
    assert out["max_abs_diff"] == 1.0
    assert isinstance(out["cosine"], float)


def test_nan_metrics_serialise_as_strict_json(tmp_path):
    """A NaN on one side still gives strict JSON (no NaN tokens)."""

    def prog(value):
        def run(key):
            with bmtrace.trace_stage("infer") as st:
                st.output(np.array([1.0, value]))
        return run

    result = diff(record(tmp_path / "a", ["s"], prog(2.0)), record(tmp_path / "b", ["s"], prog(np.nan)))
    text = dumps(result.to_json())

    def reject(token):
        raise ValueError("non-standard JSON token %s" % token)

    doc = json.loads(text, parse_constant=reject)
    tensor = doc["stages"][0]["tensors"][0]
    assert tensor["status"] == "diverged"
    assert tensor["nonfinite_mismatch"] == 1


def test_stage_entries_accept_isolation_fields(runs):
    """Isolation replay can fill local/introduces and extra keys; they appear in the JSON."""
    result = diff(runs("a"), runs("b", resize_shift=1))
    entry = result.stages[1]
    entry.local = {"status": "diverged", "max_abs_diff": 1.0}
    entry.introduces = True
    entry.extra["replayed_with"] = "inputs of A"
    stage = result.to_json()["stages"][1]
    assert stage["local"] == {"status": "diverged", "max_abs_diff": 1.0}
    assert stage["introduces"] is True
    assert stage["replayed_with"] == "inputs of A"


def test_environment_lists_differing_env_vars(tmp_path, monkeypatch):
    """An OpenCV/BMRT variable set differently in the two runs appears in environment."""
    monkeypatch.setenv("OPENCV_OPENCL_RUNTIME", "disabled")
    a = record(tmp_path / "a", ["s"])
    monkeypatch.setenv("OPENCV_OPENCL_RUNTIME", "enabled")
    monkeypatch.setenv("BMRT_SAVE_IO_TENSORS", "1")
    b = record(tmp_path / "b", ["s"])
    env = diff(a, b).to_json()["environment"]
    assert env["env"]["OPENCV_OPENCL_RUNTIME"] == {"a": "disabled", "b": "enabled"}
    assert env["env"]["BMRT_SAVE_IO_TENSORS"] == {"a": None, "b": "1"}


def test_environment_is_empty_when_nothing_differs(runs):
    """Two runs from one process share versions and env vars."""
    env = _doc(runs)["environment"]
    assert env["versions"] == {} and env["env"] == {}


@pytest.mark.parametrize("doc, streamed", [
    ({}, {}),
    ({"a": 1, "stages": [], "b": {"x": [1, {"y": None}]}}, {"stages": []}),
    ({"stages": [], "n": float("nan")}, {"stages": [
        {"s": "\u00e9\n\"", "t": [[1.5, float("inf")]], "v": np.float32(2.5), "k": (1, 2)}, {}, [], 3,
        {"b": b"\x00x", 7: "int key", "nested": {"x": [float("nan")]}}]}),
])
def test_streamed_document_reads_as_the_whole_one(doc, streamed):
    """Writing the stage entries one at a time, one line each, gives the document dumps() gives (the same
    JSON, strict, NaN/numpy/bytes sanitised alike); the rest of it is the same text."""
    out = io.StringIO()
    write(doc, out, streamed)
    whole = dict(doc, **{key: list(items) for key, items in streamed.items()})

    def reject(token):
        raise ValueError("non-standard JSON token %s" % token)

    assert json.loads(out.getvalue(), parse_constant=reject) == json.loads(dumps(whole))
    lines = out.getvalue().split("\n")
    if streamed.get("stages"):  # one line per entry, between '"stages": [' and its ']'
        start = lines.index('  "stages": [')
        assert lines[start + 1 + len(streamed["stages"])] in ("  ]", "  ],")
    plain = io.StringIO()
    write(doc, plain, {})
    assert plain.getvalue() == dumps(doc)  # nothing streamed: the very text of dumps


def test_cli_json_is_the_documents_text(runs, capsys):
    """`bmtrace diff --json` prints dumps(result.to_json()), entries and all."""
    from bmtrace.cli import main

    a, b = runs("a"), runs("b", resize_shift=1)
    main(["diff", str(a), str(b), "--json", "--no-explain"])
    printed = capsys.readouterr().out
    result = diff(a, b, explain=False)
    doc = json.loads(printed)
    expected = result.to_json()
    doc.pop("elapsed_s"), expected.pop("elapsed_s")
    assert doc == json.loads(dumps(expected)) and len(doc["stages"]) == len(result.stages) > 0
    assert printed.startswith("{\n  \"run_a\": ") and printed.endswith("\n}\n")
