"""`diff --isolate`: stages replay cannot test are untested (with the flag), or tested by substitution."""
import json
import sys

import pytest

from .conftest import bmtrace_cli


def _isolate(runs, *extra):
    proc = bmtrace_cli("diff", runs["original"], runs["cv2_resize"], "--isolate", "--json", *extra)
    assert proc.returncode == 1, proc.stderr
    return json.loads(proc.stdout)


def _tested_by(doc):
    return {e["stage"]: e["tested_by"] for e in doc["stages"] if e["status"] == "diverged"}


@pytest.fixture(scope="module")
def no_consent(runs):
    """In process (torch is already imported here): the JSON document of diff --isolate."""
    import bmtrace

    return json.loads(json.dumps(bmtrace.diff(runs["original"], runs["cv2_resize"], isolate=True,
                                              explain=False).to_json()))


def test_without_consent_untested_stages_are_listed_with_the_flag(no_consent):
    """The `with` block and the renamed-parameter model stage are untested, with reason and flag."""
    doc = no_consent
    assert _tested_by(doc) == {"resize": "replay", "normalize": None, "infer": None, "postprocess": "replay"}
    untested = {e["stage"]: e["untested_reason"] for e in doc["stages"] if e["tested_by"] is None
                and e["status"] == "diverged"}
    assert "`with trace_stage(...)` block" in untested["normalize"] and "--trust-recorded" in untested["normalize"]
    isolation = doc["isolation"]
    assert isolation["introduced_at"] == "resize"
    assert "normalize" not in isolation["message"].split("not tested")[0]
    assert "not tested: normalize, infer" in isolation["message"]


def test_rerun_tests_every_stage_and_names_resize(runs):
    """With --rerun, normalize and infer are tested by substitution and only inherit; resize introduces."""
    doc = _isolate(runs, "--rerun", "%s port.py" % sys.executable)
    assert _tested_by(doc) == {"resize": "replay", "normalize": "substitution", "infer": "substitution",
                               "postprocess": "replay"}
    assert doc["isolation"]["introduced_at"] == "resize"
    assert doc["isolation"]["inheriting"] == ["normalize", "infer", "postprocess"]
    assert doc["isolation"]["untested"] == []


def test_torch_postprocess_replays_on_numpy_inputs(no_consent):
    """A's torch softmax, replayed on the port's numpy logits, gives a verdict (no crash)."""
    doc = no_consent
    entries = [e for e in doc["stages"] if e["stage"] == "postprocess"]
    assert all(e["local"]["status"] == "aligned" for e in entries)
