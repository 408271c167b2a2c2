"""`record --auto` on Python 3.8 with numpy and wrapt only (a device image), tracing sail's Engine.process."""
import os
import subprocess
import sys
import textwrap

import pytest

import bmtrace

PY38 = os.environ.get("BMTRACE_PY38") or os.path.expanduser("~/.cache/bmtrace/py38-venv/bin/python")
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FAKES = os.path.join(ROOT, "tests", "fakes")


@pytest.mark.skipif(not os.path.exists(PY38), reason="needs a Python 3.8 with numpy+wrapt (BMTRACE_PY38)")
def test_auto_tracing_of_sail_on_python38(tmp_path):
    """A Python 3.8 program importing (fake) sophon.sail after start has its Engine.process recorded as infer."""
    package = tmp_path / "sophon"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "sail.py").write_text("from fake_sail import *  # the fake of sail's documented API\n")
    script = tmp_path / "device.py"
    script.write_text(textwrap.dedent("""
        import sys
        import numpy as np
        assert sys.version_info[:2] == (3, 8), sys.version
        import sophon.sail as sail
        import fake_sail

        net = fake_sail.FakeNet("net", [("in0", (1, 3), sail.Dtype.BM_FLOAT32, 1.0)],
                                [("out0", (1, 3), sail.Dtype.BM_FLOAT32, 1.0)], lambda raw: [raw[0] * 2])
        engine = sail.Engine(net, 0, sail.IOMode.SYSIO)
        print(engine.process("net", {"in0": np.ones((1, 3), np.float32)})["out0"].tolist())
    """))
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([ROOT, FAKES, str(tmp_path)])
    env = {k: v for k, v in env.items() if not k.startswith("BMTRACE_")}
    proc = subprocess.run([sys.executable, "-m", "bmtrace", "record", "--out", str(tmp_path / "run"), "--auto", "sail",
                           "--sample-from", "argv1", "--", PY38, str(script), "img.jpg"],
                          capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[[2.0, 2.0, 2.0]]"
    run = bmtrace.open_run(str(tmp_path / "run"))
    assert run.meta["python"].startswith("3.8")
    [call] = run.calls()
    assert (call.stage, call.sample, call.function["op"]) == ("infer", "img.jpg", "sail.Engine.process")
    assert call.output().load().tolist() == [[2.0, 2.0, 2.0]]
