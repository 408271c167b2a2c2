"""import-npy: hand-saved .npy files (the vendor guide's manual method) become stages of a run."""
import numpy as np
import pytest

import bmtrace
from sophon_testlib import run_cli
from bmtrace.errors import ImportDataError, UsageError
from bmtrace.sophon import import_npy
from bmtrace.sophon.npy_import import parse_mapping


@pytest.fixture
def saved(tmp_path):
    """Files as the guide saves them: np.save('img_read_cv.npy', ...) after each operation."""
    rng = np.random.RandomState(5)
    arrays = {
        "img_read_cv.npy": rng.randint(0, 256, (12, 16, 3)).astype(np.uint8),
        "img_resize_cv.npy": rng.randint(0, 256, (8, 8, 3)).astype(np.uint8),
        "img_normalize.npy": rng.randn(1, 3, 8, 8).astype(np.float32),
    }
    for name, array in arrays.items():
        np.save(tmp_path / name, array)
    return arrays


def test_cli_makes_one_stage_per_file_in_order(saved, tmp_path):
    """Each FILE=STAGE becomes one call whose output "out" is the saved array, in command-line order."""
    proc = run_cli("import-npy", "--into", "run", "--side", "port", "--sample", "test.jpg",
                   "img_read_cv.npy=read", "img_resize_cv.npy=resize", "img_normalize.npy=normalize",
                   cwd=str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    run = bmtrace.open_run(tmp_path / "run")
    assert run.side == "port" and run.samples() == ["test.jpg"]
    assert run.stages() == ["read", "resize", "normalize"]
    for stage, name in (("read", "img_read_cv.npy"), ("resize", "img_resize_cv.npy"),
                        ("normalize", "img_normalize.npy")):
        (call,) = run.calls(stage=stage)
        (out,) = call.outputs
        assert out.name == "out"
        loaded = out.load()
        assert loaded.dtype == saved[name].dtype and loaded.tobytes() == saved[name].tobytes()


def test_named_files_of_one_stage_form_one_call(tmp_path):
    """FILE=STAGE:NAME lets several files be the named outputs of one stage call."""
    np.save(tmp_path / "boxes.npy", np.ones((3, 4), np.float32))
    np.save(tmp_path / "scores.npy", np.arange(3, dtype=np.float32))
    import_npy(tmp_path / "run", ["%s=post:boxes" % (tmp_path / "boxes.npy"),
                                  "%s=post:scores" % (tmp_path / "scores.npy")])
    (call,) = bmtrace.open_run(tmp_path / "run").calls(stage="post")
    assert [t.name for t in call.outputs] == ["boxes", "scores"]
    np.testing.assert_array_equal(call.outputs[1].load(), np.arange(3, dtype=np.float32))


def test_npz_gives_one_output_per_key(tmp_path):
    """A .npz file's arrays become the named outputs of its stage."""
    np.savez(tmp_path / "post.npz", boxes=np.zeros((2, 4)), labels=np.array([1, 7]))
    import_npy(tmp_path / "run", ["%s=post" % (tmp_path / "post.npz")])
    (call,) = bmtrace.open_run(tmp_path / "run").calls(stage="post")
    assert sorted(t.name for t in call.outputs) == ["boxes", "labels"]


def test_import_appends_to_a_recorded_run(saved, tmp_path):
    """Importing into an existing run adds stages and keeps what was recorded."""
    with bmtrace.run(tmp_path / "run", side="port"):
        with bmtrace.sample("test.jpg"), bmtrace.trace_stage("infer") as st:
            st.output(np.zeros(3))
    import_npy(tmp_path / "run", ["%s=read" % (tmp_path / "img_read_cv.npy")], sample="test.jpg")
    run = bmtrace.open_run(tmp_path / "run")
    assert run.stages() == ["infer", "read"] and run.side == "port"


def test_pickled_object_array_is_refused(tmp_path):
    """An object array (needs pickle) is refused with a message saying to save plain arrays."""
    np.save(tmp_path / "obj.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(ImportDataError, match="np.save"):
        import_npy(tmp_path / "run", ["%s=x" % (tmp_path / "obj.npy")])
    assert not (tmp_path / "run").exists()


def test_bad_mapping_is_a_usage_error(tmp_path):
    """A mapping without =STAGE is a usage error; the CLI exits 2 with a hint."""
    with pytest.raises(UsageError, match="FILE=STAGE"):
        parse_mapping("img_read_cv.npy")
    proc = run_cli("import-npy", "--into", tmp_path / "run", "img_read_cv.npy")
    assert proc.returncode == 2 and "FILE=STAGE" in proc.stderr
