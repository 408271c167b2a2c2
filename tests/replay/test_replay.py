"""bmtrace.replay: recorded inputs into another function, local vs inherited error."""
import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import bmtrace
from bmtrace.errors import ReplayError
from bmtrace.replayer.target import import_file


def test_resize_has_large_local_error(resize_pair):
    """B's resize inputs through A's resize (torchvision on PIL) differ a lot from B's cv2 output."""
    program_a = import_file(str(resize_pair["a"]))
    result = bmtrace.replay(resize_pair["run_b"], "resize", program_a.resize, like=resize_pair["run_a"])
    (sample,) = result.samples
    assert not result and sample.status == "diverged"
    assert sample.tensors[0].max_abs_diff > 20


def test_normalize_has_no_local_error(resize_pair):
    """Given B's normalize inputs, A's normalize reproduces B's outputs exactly: it only inherits."""
    program_a = import_file(str(resize_pair["a"]))
    result = bmtrace.replay(resize_pair["run_b"], "normalize", program_a.normalize, like=resize_pair["run_a"])
    assert result and result.samples[0].tensors[0].status == "equal"
    recorded = bmtrace.diff(resize_pair["run_a"], resize_pair["run_b"])
    normalize = [e for e in recorded.stages if e.stage == "normalize"][0]
    assert normalize.status == "diverged"  # yet it diverges in the recorded runs: inherited error


def test_replay_into_own_function_reproduces_the_run(resize_pair):
    """Replaying a run into its own program's function is aligned (a sanity check of the mechanism)."""
    result = bmtrace.replay(resize_pair["run_a"], "resize", "%s:resize" % resize_pair["a"])
    assert result and str(result).startswith("replay of resize into resize: ALIGNED")


def test_diff_isolate_names_the_stage_that_introduces_error(resize_pair):
    """diff --isolate: resize introduces error, normalize only inherits it."""
    result = bmtrace.diff(resize_pair["run_a"], resize_pair["run_b"], isolate=True)
    doc = result.to_json()
    by_stage = {s["stage"]: s for s in doc["stages"]}
    assert by_stage["resize"]["introduces"] is True and by_stage["resize"]["local"]["max_abs_diff"] > 20
    assert by_stage["normalize"]["introduces"] is False and by_stage["normalize"]["local"]["max_abs_diff"] == 0
    assert result.isolation["introduced_at"] == "resize"
    assert result.isolation["message"] == "introduced at resize; normalize only inherits it"


class Scaler:
    def __init__(self, k):
        self.k = k

    def scale(self, x, *, offset=0.0):
        return x * self.k + offset


def _record(tmp_path, fn, **inputs):
    with bmtrace.run(tmp_path / "run", overwrite=True):
        for key in ("s0", "s1"):
            with bmtrace.sample(key):
                with bmtrace.trace_stage("stage") as st:
                    st.input(**inputs)
                    st.output(fn(**inputs))
    return tmp_path / "run"


def test_bound_methods_and_keyword_only_parameters(tmp_path):
    """A bound method with a keyword-only parameter replays by name; a different instance diverges."""
    run = _record(tmp_path, Scaler(2.0).scale, x=np.arange(4.0), offset=1.0)
    assert bmtrace.replay(run, "stage", Scaler(2.0).scale)
    bad = bmtrace.replay(run, "stage", Scaler(3.0).scale)
    assert not bad and bad.samples[0].tensors[0].max_abs_diff == 3.0


def test_function_that_raises_is_a_result_not_a_crash(tmp_path):
    """A replayed function that raises gives status error with the exception, for every sample."""
    run = _record(tmp_path, lambda x: x + 1, x=np.ones(2))

    def broken(x):
        raise ValueError("shape (2,) not supported")

    result = bmtrace.replay(run, "stage", broken)
    assert [s.status for s in result.samples] == ["error", "error"]
    error = result.samples[0].error
    assert (error["type"], error["message"]) == ("ValueError", "shape (2,) not supported")
    assert error["where"].endswith("in broken") and "hint" not in error


def test_missing_sample_lists_what_exists(tmp_path):
    """Asking for a sample the stage never saw names the samples that do exist."""
    run = _record(tmp_path, lambda x: x, x=np.ones(2))
    with pytest.raises(ReplayError, match="recorded for samples: s0, s1"):
        bmtrace.replay(run, "stage", lambda x: x, sample="s9")
    with pytest.raises(ReplayError, match="no stage 'nope'; its stages are: stage"):
        bmtrace.replay(run, "nope", lambda x: x)


def test_signature_mismatch_lists_both_sides(tmp_path):
    """A function whose parameters cannot take the recorded inputs gets an error listing both."""
    run = _record(tmp_path, lambda img, size: img, img=np.ones(2), size=3)
    with pytest.raises(ReplayError, match=r"recorded img, size"):
        bmtrace.replay(run, "stage", lambda frame: frame)


def test_positional_fallback_warns(tmp_path):
    """Recorded names that differ but fit by position are passed positionally, with a warning."""
    run = _record(tmp_path, lambda img: img * 2, img=np.ones(2))
    with pytest.warns(UserWarning, match="passing them by position"):
        result = bmtrace.replay(run, "stage", lambda frame: frame * 2)
    assert result


def test_nested_inputs_are_rebuilt_with_their_container_types(tmp_path):
    """Tuples stay tuples, dicts stay dicts, scalars keep their Python type."""
    seen = {}

    def stage(cfg, size):
        seen.update(cfg=cfg, size=size)
        return np.zeros(size)

    run = _record(tmp_path, stage, cfg={"mean": [0.5, 0.25], "flip": True}, size=(2, 3))
    seen.clear()
    assert bmtrace.replay(run, "stage", stage, sample="s0")
    assert seen["size"] == (2, 3) and isinstance(seen["size"], tuple)
    assert seen["cfg"] == {"mean": [0.5, 0.25], "flip": True} and seen["cfg"]["flip"] is True


def test_deeply_nested_inputs_keep_tuples_at_every_level(tmp_path):
    """Tuples nested inside dicts and lists come back as tuples; namedtuples come back as tuples."""
    import collections

    Box = collections.namedtuple("Box", "xyxy score")
    seen = {}

    def stage(dets):
        seen["dets"] = dets
        return np.zeros(1)

    dets = [{"box": (np.arange(4.0), 0.5), "named": Box(np.ones(4), 0.9)}]
    run = _record(tmp_path, stage, dets=dets)
    assert bmtrace.replay(run, "stage", stage, sample="s1")
    (entry,) = seen["dets"]
    assert isinstance(entry["box"], tuple) and entry["box"][1] == 0.5
    assert entry["box"][0].tolist() == [0.0, 1.0, 2.0, 3.0]
    assert isinstance(entry["named"], tuple) and entry["named"][1] == 0.9


def test_cli_replay_with_against_shows_local_and_recorded(resize_pair):
    """`bmtrace replay B --stage resize --call A.py:resize --against A` exits 1 and shows both errors."""
    cmd = [sys.executable, "-m", "bmtrace", "replay", str(resize_pair["run_b"]), "--stage", "resize",
           "--call", "%s:resize" % resize_pair["a"], "--against", str(resize_pair["run_a"]), "--json"]
    out = subprocess.run(cmd, capture_output=True, text=True)
    assert out.returncode == 1, out.stderr
    doc = json.loads(out.stdout)
    (sample,) = doc["samples"]
    assert sample["status"] == "diverged" and sample["recorded"]["max_abs_diff"] > 20
    text = subprocess.run(cmd[:-1], capture_output=True, text=True).stdout
    assert "local" in text and "recorded" in text


def test_cli_replay_of_file_does_not_run_main(tmp_path):
    """--call file.py:fn imports the file without running its __main__ block."""
    run = _record(tmp_path, lambda x: x + 1, x=np.arange(3))
    target = tmp_path / "prog.py"
    target.write_text(textwrap.dedent("""
        def add_one(x):
            return x + 1

        if __name__ == "__main__":
            raise SystemExit("main must not run during replay")
    """))
    out = subprocess.run([sys.executable, "-m", "bmtrace", "replay", str(run), "--stage", "stage", "--call",
                          "%s:add_one" % target], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "ALIGNED" in out.stdout
