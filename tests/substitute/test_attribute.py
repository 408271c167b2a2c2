"""`bmtrace attribute` on real programs: the stage the prediction change comes from."""
import json
import sys

import pytest

from .conftest import bmtrace_cli


def _attribute(runs, port, *extra):
    proc = bmtrace_cli("attribute", runs["original"], runs[port], "--json", *extra)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


@pytest.fixture(scope="module")
def cv2_doc(runs):
    return _attribute(runs, "cv2_resize", "-j", "2", "--", sys.executable, "port.py")


def test_cv2_resize_is_the_culprit(cv2_doc):
    """The OpenCV-resize port: resize diverges on A's inputs and restores top-1 on every sample."""
    doc = cv2_doc
    assert doc["culprit"] == "resize"
    by_stage = {e["stage"]: e for e in doc["stages"]}
    assert by_stage["resize"]["local"] == "diverged" and by_stage["resize"]["restored"] == 1.0
    assert by_stage["normalize"]["local"] == "aligned"
    assert doc["baseline"]["agree"] < doc["baseline"]["samples"]


def test_with_block_channel_swap_is_the_culprit(runs):
    """The port whose `with`-block normalize swaps channels: normalize is named, not infer."""
    doc = _attribute(runs, "swap", "--trust-recorded")
    assert doc["culprit"] == "normalize"
    by_stage = {e["stage"]: e for e in doc["stages"]}
    assert by_stage["normalize"]["local"] == "equal_under_representation"
    assert by_stage["infer"]["local"] == "aligned"  # the numpy model matches on A's inputs
    assert by_stage["normalize"]["restored"] == 1.0


def test_json_keeps_the_contract_keys(cv2_doc):
    """Every stage entry has stage, local, restored, first_divergence_after, and a culprit is given."""
    assert set(cv2_doc) >= {"stages", "culprit"}
    for entry in cv2_doc["stages"]:
        assert set(entry) >= {"stage", "local", "restored", "first_divergence_after"}
    assert [e["stage"] for e in cv2_doc["stages"]] == ["resize", "normalize", "infer", "postprocess"]


def test_text_names_the_culprit_over_the_chosen_samples(runs):
    """The text ends with the sentence naming the culprit, measured over the --samples given."""
    proc = bmtrace_cli("attribute", runs["original"], runs["cv2_resize"], "--samples", "img1,img2", "--",
                       sys.executable, "port.py")
    assert proc.returncode == 0, proc.stderr
    last = proc.stdout.strip().splitlines()[-1]
    assert last.startswith("substituting resize's output restores top-1 on 2/2")
    assert last.endswith("-> the change comes from resize")
    assert "re-run 1/" in proc.stderr


def test_no_culprit_where_the_predictions_already_agree(runs):
    """On samples whose top-1 the port does not change (img0, img1), resize still diverges, but there is no
    prediction change to attribute: no culprit, the sentence says so, and the exit code is 0."""
    proc = bmtrace_cli("attribute", runs["original"], runs["cv2_resize"], "--samples", "img0,img1", "--",
                       sys.executable, "port.py")
    assert proc.returncode == 0, proc.stderr
    last = proc.stdout.strip().splitlines()[-1]
    assert last.endswith("-> B as recorded already agrees with A on top-1 (2/2): no change to attribute"), last
    assert "comes from" not in proc.stdout
    doc = _attribute(runs, "cv2_resize", "--samples", "img0,img1", "--", sys.executable, "port.py")
    assert doc["culprit"] is None and doc["baseline"] == {"agree": 2, "samples": 2}
    assert {e["stage"]: e["local"] for e in doc["stages"]}["resize"] == "diverged"
