"""Patches exist only while a run is active or pending, and are removed at stop."""
import subprocess
import sys

import bmtrace
import bmtrace.auto as auto
from bmtrace import _state


def test_no_patch_without_a_run():
    """bmtrace.auto() with no run active leaves the library functions untouched."""
    import cv2

    original = cv2.resize
    bmtrace.auto(["cv2"])
    assert cv2.resize is original and auto.active_patches() == []


def test_patched_during_run_and_restored_at_stop(tmp_path):
    """cv2.resize is wrapped while the run is active and is the very same object again after stop."""
    import cv2

    original = cv2.resize
    bmtrace.auto(["cv2"])
    with bmtrace.run(str(tmp_path / "run")):
        assert cv2.resize is not original and cv2.resize.__wrapped__ is original
    assert cv2.resize is original


def test_inherited_method_is_restored_as_inherited(tmp_path):
    """InferenceSession.run (inherited from Session) is inherited again after stop, not copied."""
    import onnxruntime

    assert "run" not in vars(onnxruntime.InferenceSession)
    bmtrace.auto(["onnxruntime"])
    with bmtrace.run(str(tmp_path / "run")):
        assert "run" in vars(onnxruntime.InferenceSession)
    assert "run" not in vars(onnxruntime.InferenceSession)


def test_requesting_does_not_import_libraries(tmp_path):
    """bmtrace.auto() and a run do not import a library the program has not imported."""
    code = ("import sys, bmtrace\n"
            "bmtrace.auto()\n"
            "with bmtrace.run(sys.argv[1]):\n"
            "    pass\n"
            "print(sorted(m for m in ('cv2', 'torch', 'torchvision', 'PIL', 'onnxruntime') if m in sys.modules))\n")
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path / "run")], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_library_imported_during_run_is_patched(tmp_path):
    """A library first imported while the run is active is patched by the post-import hook."""
    code = ("import sys, bmtrace\n"
            "bmtrace.auto(['cv2'])\n"
            "with bmtrace.run(sys.argv[1]):\n"
            "    import cv2, numpy as np\n"
            "    cv2.resize(np.zeros((8, 8), np.uint8), (4, 4))\n"
            "print([c.function['op'] for c in bmtrace.open_run(sys.argv[1]).calls()])\n")
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path / "run")], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "['cv2.resize']"


def test_env_var_applies_patches_when_a_run_activates(tmp_path, monkeypatch):
    """BMTRACE_AUTO is read when a run starts: the run records library calls without bmtrace.auto()."""
    import cv2
    import numpy as np

    monkeypatch.setenv("BMTRACE_AUTO", "cv2")
    monkeypatch.setattr(_state, "listeners", [])  # as in a fresh process: nothing registered yet
    with bmtrace.run(str(tmp_path / "run")):
        cv2.resize(np.zeros((8, 8), np.uint8), (4, 4))
    assert [c.stage for c in bmtrace.open_run(str(tmp_path / "run")).calls()] == ["resize"]


def test_unknown_library_is_a_usage_error():
    """An unknown library name is refused with the list of known ones."""
    import pytest

    with pytest.raises(bmtrace.BmtraceError, match="cv2, PIL, torchvision"):
        bmtrace.auto("cv3")


def test_auto_is_callable_after_the_package_is_imported():
    """bmtrace.auto stays callable once the bmtrace.auto package has replaced the lazy function."""
    import bmtrace.auto.control  # noqa: F401

    assert callable(bmtrace.auto) and bmtrace.auto(["PIL"]) == ["PIL"]


def test_auto_requested_during_a_run_applies_at_once(tmp_path):
    """bmtrace.auto() called inside an active run patches immediately and records the next calls."""
    import cv2
    import numpy as np

    with bmtrace.run(str(tmp_path / "run")):
        cv2.resize(np.zeros((8, 8), np.uint8), (4, 4))  # before auto(): not recorded
        bmtrace.auto("cv2")
        cv2.resize(np.zeros((8, 8), np.uint8), (2, 2))
    calls = bmtrace.open_run(str(tmp_path / "run")).calls()
    assert [c.function["params"]["dsize"] for c in calls] == [[2, 2]]


def test_cancel_removes_patches_of_an_active_run(tmp_path):
    """bmtrace.auto.cancel() restores the libraries even while the run goes on."""
    import cv2

    original = cv2.resize
    bmtrace.auto("cv2")
    with bmtrace.run(str(tmp_path / "run")):
        auto.cancel()
        assert cv2.resize is original
