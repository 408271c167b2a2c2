"""The SOPHON recording helpers run on Python 3.8 with numpy and wrapt only (device images)."""
import os
import subprocess
import textwrap

import numpy as np
import pytest

import bmtrace
from sophon_testlib import FAKES, ROOT, committed_bmodels

PY38 = os.environ.get("BMTRACE_PY38")


@pytest.mark.skipif(not PY38, reason="set BMTRACE_PY38 to a Python 3.8 with numpy+wrapt (scripts/test.sh does)")
def test_sail_instrument_values_and_bmrt_import_on_python38(tmp_path):
    """On 3.8: read_bmodel, sail FAKE instrumenting, BMImage values and import_bmrt record a readable run."""
    bmodel = committed_bmodels()[("two_io", "bm1684", "int8")]
    script = tmp_path / "device_prog.py"
    script.write_text(textwrap.dedent("""
        import sys
        import numpy as np
        import bmtrace, bmtrace.sophon as bs
        import fake_sail as sail   # the sail FAKE, not real sail
        assert sys.version_info[:2] == (3, 8), sys.version
        run_path, bmodel, dump = sys.argv[1:4]
        net = bs.read_bmodel(bmodel).net()
        np.concatenate([np.full(t.shape, 3, np.int8).ravel() for t in net.inputs]).tofile(dump)
        bs.instrument_sail(sail)
        engine = sail.Engine(sail.FakeNet("g", [("x", (1, 2), sail.Dtype.BM_FLOAT32, 1.0)],
                                          [("b", (1, 2), sail.Dtype.BM_FLOAT32, 1.0),
                                           ("a", (1, 2), sail.Dtype.BM_FLOAT32, 1.0)],
                                          lambda raw: [raw[0] * 2, raw[0] + 1]))
        decode = bmtrace.trace_stage("decode")(
            lambda: sail.BMImage(np.zeros((4, 5, 3), np.uint8), sail.Format.FORMAT_BGR_PLANAR))
        with bmtrace.run(run_path, side="device"):
            with bmtrace.sample("s"):
                decode()
                engine.process("g", {"x": np.ones((1, 2), np.float32)})
        bs.import_bmrt(run_path, bmodel, dump, None, stage="bmrt", sample="s")
        for banned in ("pyarrow", "torch", "cv2", "PIL"):
            assert banned not in sys.modules, banned
    """))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([ROOT, FAKES]))
    subprocess.run([PY38, str(script), str(tmp_path / "run"), bmodel, str(tmp_path / "in.dat.bmrt")],
                   check=True, env=env, cwd=str(tmp_path))
    run = bmtrace.open_run(tmp_path / "run")
    assert run.meta["python"].startswith("3.8") and run.stages() == ["decode", "infer", "bmrt"]
    (decode,) = run.calls(stage="decode")
    assert decode.outputs[0].shape == (3, 4, 5) and decode.outputs[0].meta["layout"] == "CHW"
    (infer,) = run.calls(stage="infer")
    assert [t.name for t in infer.outputs] == ["b", "a"]
    (bmrt,) = run.calls(stage="bmrt")
    raw = {t.name: t for t in bmrt.inputs}["x.raw"].load()
    assert raw.dtype == np.int8 and (raw == 3).all()
