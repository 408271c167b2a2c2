"""The recording path runs on Python 3.8 with numpy and wrapt only (old device images)."""
import os
import subprocess
import textwrap

import pytest

import bmtrace

PY38 = os.environ.get("BMTRACE_PY38")
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.mark.skipif(not PY38, reason="set BMTRACE_PY38 to a Python 3.8 with numpy+wrapt (scripts/test.sh does)")
def test_recording_on_python38_with_numpy_and_wrapt_only(tmp_path):
    """A program on Python 3.8 records stages, samples, threads and nested values readable here."""
    script = tmp_path / "device_prog.py"
    script.write_text(textwrap.dedent("""
        import sys, threading
        import numpy as np
        import bmtrace
        assert sys.version_info[:2] == (3, 8), sys.version
        for banned in ("pyarrow", "torch", "cv2", "PIL"):
            assert banned not in sys.modules, banned

        @bmtrace.trace_stage("resize", meta={"color": "BGR"})
        def resize(img, size=(2, 2)):
            return img[: size[0], : size[1]]

        @bmtrace.trace_stage("post")
        def post(logits):
            return {"label": int(np.argmax(logits)), "scores": [logits.max(), logits.min()]}

        @bmtrace.trace_stage("decode")
        def decode(i):  # 2.7 MB: a payload file of its own, hashed and described on two threads
            return np.full((720, 1280, 3), i, np.uint8)

        @bmtrace.trace_stage("gray", mode="stats")
        def gray(frame):  # stats mode: sampled mean/std and a sketch
            return frame.astype(np.float32).mean(axis=2)

        def job(i):
            with bmtrace.sample("img%d.jpg" % i):
                resize(np.full((4, 4, 3), i, np.uint8))  # small payloads: the writer's pack
                post(np.arange(5, dtype=np.float32) * i)
                gray(decode(i))

        with bmtrace.run(sys.argv[1], side="device"):
            threads = [threading.Thread(target=job, args=(i,)) for i in range(4)]
            [t.start() for t in threads]
            [t.join() for t in threads]
    """))
    env = dict(os.environ, PYTHONPATH=REPO)
    subprocess.run([PY38, str(script), str(tmp_path / "run")], check=True, env=env, cwd=str(tmp_path))
    run = bmtrace.open_run(tmp_path / "run")
    assert run.meta["python"].startswith("3.8") and run.side == "device"
    assert sorted(run.samples()) == ["img%d.jpg" % i for i in range(4)]
    for call in run.calls(stage="post"):
        i = int(call.sample[3])
        assert call.output("out['label']").value == (4 if i else 0)
    frame = run.calls(sample="img2.jpg", stage="decode")[0].output()
    assert frame.load(verify=True).shape == (720, 1280, 3) and frame.max == 2
    gray = run.calls(sample="img2.jpg", stage="gray")[0].output()
    assert gray.payload is None and gray.sketch and gray.stats_sample == 65536 and gray.mean == 2.0
    resize = run.calls(sample="img3.jpg", stage="resize")[0]
    assert resize.output().load().tolist() == [[[3, 3, 3]] * 2] * 2 and resize.output().meta == {"color": "BGR"}
