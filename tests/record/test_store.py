"""The store: crash safety, concurrency, modes, payload cap, failures, format version, Parquet index."""
import json
import multiprocessing
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time

import numpy as np
import pytest

import bmtrace
from bmtrace.errors import FormatVersionError, RunNotFoundError, StoreError, PayloadMissingError


@bmtrace.trace_stage("work")
def work(x):
    return x * 2


def _worker(i):
    with bmtrace.sample("proc-%d" % i):
        work(np.full(1000, i, dtype=np.int32))
    return i


def test_sigkill_leaves_every_completed_record_readable(tmp_path):
    """A recording process killed with SIGKILL mid-run leaves all completed records loadable."""
    progress = tmp_path / "progress"
    script = tmp_path / "loop.py"
    script.write_text(textwrap.dedent("""
        import os, sys, numpy as np, bmtrace
        @bmtrace.trace_stage("step")
        def step(img):
            return img[::2, ::2].copy()
        bmtrace.start(sys.argv[1])
        i = 0
        while True:
            with bmtrace.sample("frame-%d" % i):
                step(np.full((256, 256, 3), i % 256, np.uint8))
            i += 1
            with open(sys.argv[2] + ".tmp", "w") as f:
                f.write(str(i))
            os.replace(sys.argv[2] + ".tmp", sys.argv[2])  # the test never reads a half-written count
    """))
    proc = subprocess.Popen([sys.executable, str(script), str(tmp_path / "run"), str(progress)])
    deadline = time.time() + 60
    while time.time() < deadline:
        if progress.exists() and progress.read_text() and int(progress.read_text()) >= 30:
            break
        time.sleep(0.05)
    done_before_kill = int(progress.read_text())
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    run = bmtrace.open_run(tmp_path / "run")
    calls = run.calls()
    assert len(calls) >= done_before_kill >= 30
    for call in calls:
        frame = int(call.sample.split("-")[1])
        assert call.output().load().shape == (128, 128, 3)
        assert int(call.input("img").load()[0, 0, 0]) == frame % 256
    assert run.meta["ended"] is None


def test_torn_last_line_is_skipped(tmp_path):
    """A half-written journal line (killed inside write) is skipped, earlier records stay."""
    with bmtrace.run(tmp_path / "run"):
        work(np.ones(3))
    journal = next((tmp_path / "run" / "journal").iterdir())
    with open(journal, "ab") as f:
        f.write(b'{"id": "x", "stage": "wo')
    run = bmtrace.open_run(tmp_path / "run")
    assert len(run.calls()) == 1 and run.skipped_lines == 1


def test_threads_record_into_one_run(tmp_path):
    """Eight threads recording concurrently produce every record intact, each under its own sample."""
    def job(t):
        for i in range(40):
            with bmtrace.sample("t%d-%d" % (t, i)):
                work(np.full(50, t * 1000 + i))

    with bmtrace.run(tmp_path / "run"):
        threads = [threading.Thread(target=job, args=(t,)) for t in range(8)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
    calls = bmtrace.open_run(tmp_path / "run").calls()
    assert len(calls) == 320
    for call in calls:
        t, i = map(int, call.sample[1:].split("-"))
        assert call.output().load()[0] == 2 * (t * 1000 + i)


@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_multiprocessing_workers_record_into_one_run(tmp_path, method):
    """Pool workers (fork and spawn) join the parent's run; all their records are readable."""
    ctx = multiprocessing.get_context(method)
    with bmtrace.run(tmp_path / "run", side="port"):
        with ctx.Pool(2) as pool:
            assert sorted(pool.map(_worker, range(6))) == list(range(6))
    run = bmtrace.open_run(tmp_path / "run")
    calls = run.calls()
    assert sorted(c.sample for c in calls) == ["proc-%d" % i for i in range(6)]
    assert all(c.output().load()[0] == 2 * int(c.sample[5:]) for c in calls)
    assert len({c.pid for c in calls}) >= 1 and os.getpid() not in {c.pid for c in calls}
    assert run.meta["ended"] is not None


def test_stats_mode_keeps_statistics_and_hash_only(tmp_path):
    """Stats mode writes no payloads but keeps stats and hash; a per-stage override keeps payloads."""
    with bmtrace.run(tmp_path / "run", mode="stats", stage_modes={"keep": "full"}):
        work(np.arange(10))
        with bmtrace.trace_stage("keep") as st:
            st.output(np.arange(3))
    run = bmtrace.open_run(tmp_path / "run")
    out = run.calls(stage="work")[0].output()
    assert not out.has_payload and out.hash and out.max == 18
    with pytest.raises(PayloadMissingError, match="stats mode"):
        out.load()
    assert run.calls(stage="keep")[0].output().load().tolist() == [0, 1, 2]
    assert not (tmp_path / "run" / "payloads").exists() or not any(
        p.name.startswith("1-") for p in (tmp_path / "run" / "payloads").rglob("*.npy"))


def test_payload_cap_skips_payloads_with_one_warning(tmp_path, capfd):
    """Past the payload cap, payloads are skipped with a single warning; stats continue."""
    with bmtrace.run(tmp_path / "run", payload_cap_bytes=10000):
        for i in range(5):
            work(np.zeros(1000, dtype=np.float32) + i)  # 4000 bytes in, 4000 out per call
    err = capfd.readouterr().err
    assert err.count("payload cap") == 1
    calls = bmtrace.open_run(tmp_path / "run").calls()
    kept = [t.has_payload for c in calls for t in c.inputs + c.outputs]
    assert kept[:2] == [True, True] and not any(kept[3:])
    assert calls[-1].output().mean == 8.0


def test_unwritable_directory_is_reported_once_and_program_continues(tmp_path, capfd):
    """If the run directory becomes unwritable, the program keeps running and hears about it once."""
    # Replacing the directory by a file fails writes even for root, who ignores permission bits.
    with bmtrace.run(tmp_path / "run"):
        import shutil
        shutil.rmtree(tmp_path / "run")
        (tmp_path / "run").write_text("not a directory any more")
        results = [work(np.ones(2))[0] for _ in range(3)]
    assert results == [2.0, 2.0, 2.0]
    assert capfd.readouterr().err.count("cannot write to run") == 1


def test_strict_mode_raises_store_errors(tmp_path):
    """strict=True turns a recording failure into a StoreError."""
    import shutil
    bmtrace.start(tmp_path / "run", strict=True)
    shutil.rmtree(tmp_path / "run")
    (tmp_path / "run").write_text("x")
    with pytest.raises(StoreError, match="while"):
        work(np.ones(2))
    with pytest.raises(StoreError, match="end of the run"):
        bmtrace.stop()
    assert bmtrace.stop() is None  # the run is closed even though stopping failed


def test_newer_format_version_is_a_clear_error(tmp_path):
    """A run written by a newer bmtrace is refused with a message saying to upgrade."""
    with bmtrace.run(tmp_path / "run"):
        work(1)
    doc = json.loads((tmp_path / "run" / "run.json").read_text())
    doc["format_version"] = 99
    (tmp_path / "run" / "run.json").write_text(json.dumps(doc))
    with pytest.raises(FormatVersionError, match="upgrade"):
        bmtrace.open_run(tmp_path / "run")


def test_missing_run_is_a_clear_error(tmp_path):
    """Opening a path without a run names the path and how to record one."""
    with pytest.raises(RunNotFoundError, match="bmtrace record"):
        bmtrace.open_run(tmp_path / "nothing")


def test_run_is_self_describing(tmp_path, monkeypatch):
    """The run records side, times, host, Python, argv, cwd, library versions and SOPHON env vars."""
    monkeypatch.setenv("BMRT_SAVE_IO_TENSORS", "1")
    monkeypatch.setenv("UNRELATED_VAR", "x")
    import cv2  # noqa: F401  (imported by the program: its version and build must be recorded)
    with bmtrace.run(tmp_path / "run", side="original"):
        work(1)
    meta = bmtrace.open_run(tmp_path / "run").meta
    assert meta["side"] == "original" and meta["started"] <= meta["ended"]
    assert meta["python"] == sys.version.split()[0] and meta["cwd"] == os.getcwd() and meta["host"]
    assert meta["versions"]["numpy"] == np.__version__ and "cv2" in meta["versions"]
    assert meta["env"] == {"BMRT_SAVE_IO_TENSORS": "1"}
    assert meta["opencv_build"]["is_sophon"] is False


def test_parquet_index_is_readable_without_bmtrace(tmp_path):
    """index.parquet has one row per tensor and opens with pyarrow and pandas alone."""
    with bmtrace.run(tmp_path / "run"):
        with bmtrace.sample("a.jpg"):
            work(np.arange(4, dtype=np.float32))
    code = textwrap.dedent("""
        import sys, pyarrow.parquet as pq, pandas as pd
        t = pq.read_table(sys.argv[1])
        df = pd.read_parquet(sys.argv[1])
        assert "bmtrace" not in sys.modules
        row = df[df["role"] == "output"].iloc[0]
        print(t.num_rows, row["sample"], row["stage"], row["dtype"], [int(d) for d in row["shape"]], row["max"])
    """)
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path / "run" / "index.parquet")],
                         capture_output=True, text=True, check=True, cwd=str(tmp_path)).stdout.split()
    assert out == ["2", "a.jpg", "work", "float32", "[4]", "6.0"]


def test_payloads_are_plain_npy_files(tmp_path):
    """Each payload is a .npy file, or a .npy record in a pack at the offset its reference names:
    numpy.load reads both with no bmtrace involved."""
    big = np.arange(20000, dtype=np.float64)  # 160 KB: a file of its own
    with bmtrace.run(tmp_path / "run"):
        work(np.arange(5))
        work(big)
    small_payload, big_payload = [c.output().payload for c in bmtrace.open_run(tmp_path / "run").calls()]
    assert np.load(tmp_path / "run" / big_payload).tolist() == (big * 2).tolist()
    path, offset = small_payload.split("#")
    with open(tmp_path / "run" / path, "rb") as f:
        f.seek(int(offset))
        assert np.load(f).tolist() == [0, 2, 4, 6, 8]


def test_packed_payloads_of_threads_stay_whole(tmp_path):
    """Threads appending to one pack: every record loads its own value, verified by its hash."""
    def job(t):
        for i in range(50):
            with bmtrace.sample("t%d-%d" % (t, i)):
                work(np.full(10 + i, t * 100 + i, np.int32))

    with bmtrace.run(tmp_path / "run"):
        threads = [threading.Thread(target=job, args=(t,)) for t in range(6)]
        [th.start() for th in threads]
        [th.join() for th in threads]
    calls = bmtrace.open_run(tmp_path / "run").calls()
    assert len(calls) == 300 and len({c.output().payload for c in calls}) == 300
    for call in calls:
        t, i = map(int, call.sample[1:].split("-"))
        np.testing.assert_array_equal(call.output().load(verify=True), np.full(10 + i, 2 * (t * 100 + i)))


def test_packed_payload_references_are_checked(tmp_path):
    """An offset that is not a number is refused like any bad payload path; one past the pack's end
    is a damaged payload."""
    from bmtrace.errors import PayloadCorruptError, PayloadPathError

    with bmtrace.run(tmp_path / "run"):
        work(np.arange(5))
    tensor = bmtrace.open_run(tmp_path / "run").calls()[0].output()
    path = tensor.payload.split("#")[0]
    for bad, error in (("#-1", PayloadPathError), ("#1e3", PayloadPathError), ("#99999", PayloadCorruptError)):
        tensor.payload = path + bad
        with pytest.raises(error):
            tensor.load()


def test_fast_payload_load_matches_np_load(tmp_path):
    """Payload loading that skips the header parse gives np.load's result, writable, in every layout."""
    from bmtrace.store.reader import load_npy

    cases = [np.arange(12, dtype=np.float32).reshape(3, 4), np.asfortranarray(np.arange(6).reshape(2, 3)),
             np.array(5, dtype=np.int16), np.zeros((0, 2), np.uint8), np.array([1, 2], dtype=">i4")]
    for i, arr in enumerate(cases):
        path = tmp_path / ("%d.npy" % i)
        np.save(path, arr)
        loaded = load_npy(str(path), arr.dtype.name, arr.shape)
        np.testing.assert_array_equal(loaded, np.load(path))
        assert loaded.dtype == np.load(path).dtype and loaded.flags.writeable
    wrong = load_npy(str(tmp_path / "0.npy"), "float64", (3, 4))  # journal disagrees: np.load decides
    assert wrong.dtype == np.float32
