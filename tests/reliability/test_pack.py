"""`bmtrace pack` / `bmtrace unpack`: a run travels intact, and a bad archive never writes outside DIR."""
import io
import json
import os
import subprocess
import sys
import tarfile

import numpy as np
import pytest

import bmtrace

WORKTREE = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PY38 = os.path.expanduser("~/.cache/bmtrace/py38-venv/bin/python")


def _cli(*args, python=sys.executable, cwd=None):
    env = dict(os.environ, PYTHONPATH=WORKTREE)
    return subprocess.run([python, "-m", "bmtrace"] + [str(a) for a in args], capture_output=True, text=True,
                          env=env, cwd=None if cwd is None else str(cwd), timeout=120)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    path = tmp_path_factory.mktemp("pack") / "port"
    with bmtrace.run(path, side="port"):
        for i in range(3):
            with bmtrace.sample("img%d.jpg" % i):
                with bmtrace.trace_stage("resize") as st:
                    st.input(img=np.full((8, 8, 3), i, np.uint8))
                    st.output(np.full((4, 4, 3), i, np.uint8))
    return path


def _files(root):
    return {os.path.relpath(os.path.join(d, f), str(root)): open(os.path.join(d, f), "rb").read()
            for d, _, names in os.walk(str(root)) for f in names}


def _pack(run_dir, tmp_path, name="port.tar"):
    archive = tmp_path / name
    out = _cli("pack", run_dir, "-o", archive)
    assert out.returncode == 0, out.stderr
    return archive


def test_round_trip_keeps_every_byte(run_dir, tmp_path):
    """pack then unpack restores every file byte for byte, and the copy diffs as aligned."""
    archive = _pack(run_dir, tmp_path)
    out = _cli("unpack", archive, "-C", tmp_path / "pc")
    assert out.returncode == 0, out.stderr
    restored = tmp_path / "pc" / "port"
    assert _files(restored) == _files(run_dir)
    assert _cli("diff", run_dir, restored, "-q").returncode == 0


def test_gzip_archive_round_trip(run_dir, tmp_path):
    """An archive named .tar.gz is compressed and unpacks the same."""
    archive = _pack(run_dir, tmp_path, "port.tar.gz")
    assert archive.read_bytes()[:2] == b"\x1f\x8b"
    assert _cli("unpack", archive, "-C", tmp_path / "pc").returncode == 0
    assert _files(tmp_path / "pc" / "port") == _files(run_dir)


def _rewrite(archive, target, change):
    """Copy ``archive`` to ``target`` member by member, letting ``change(info, data)`` alter or add members."""
    with tarfile.open(str(archive)) as src, tarfile.open(str(target), "w") as dst:
        for info in src.getmembers():
            data = src.extractfile(info).read() if info.isfile() else None
            for new_info, new_data in change(info, data):
                dst.addfile(new_info, io.BytesIO(new_data) if new_data is not None else None)
    return target


def test_flipped_byte_is_detected(run_dir, tmp_path):
    """A payload whose bytes changed after packing fails its sha256; nothing is left in DIR."""
    def flip(info, data):
        if info.name.endswith((".npy", ".npys")) and not flipped:
            flipped.append(info.name)
            data = data[:-1] + bytes([data[-1] ^ 1])
        yield info, data

    flipped = []
    bad = _rewrite(_pack(run_dir, tmp_path), tmp_path / "bad.tar", flip)
    out = _cli("unpack", bad, "-C", tmp_path / "pc")
    assert out.returncode == 2 and "is corrupt: sha256" in out.stderr and flipped[0] in out.stderr
    assert os.listdir(str(tmp_path / "pc")) == []


@pytest.mark.parametrize("evil_name", ["port/../../escaped.txt", "/tmp/bmtrace-absolute-escape.txt",
                                       "elsewhere/escaped.txt"], ids=["dotdot", "absolute", "other-folder"])
def test_members_outside_the_run_are_refused(run_dir, tmp_path, evil_name):
    """A member named with `..`, an absolute path or another top folder is refused and never written."""
    def add_evil(info, data):
        yield info, data
        if info.name == "bmtrace-manifest.json":
            evil = tarfile.TarInfo(evil_name)
            evil.size = 4
            yield evil, b"evil"

    bad = _rewrite(_pack(run_dir, tmp_path), tmp_path / "bad.tar", add_evil)
    out = _cli("unpack", bad, "-C", tmp_path / "pc" / "deep")
    assert out.returncode == 2 and "outside the run folder" in out.stderr and "Traceback" not in out.stderr
    assert not (tmp_path / "escaped.txt").exists() and not (tmp_path / "pc" / "escaped.txt").exists()
    assert not os.path.exists("/tmp/bmtrace-absolute-escape.txt")


def test_symlink_members_are_refused(run_dir, tmp_path):
    """A symlink inside the run folder (which could point anywhere) is refused."""
    def add_link(info, data):
        yield info, data
        if info.name == "bmtrace-manifest.json":
            link = tarfile.TarInfo("port/journal/link")
            link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
            yield link, None

    bad = _rewrite(_pack(run_dir, tmp_path), tmp_path / "bad.tar", add_link)
    out = _cli("unpack", bad, "-C", tmp_path / "pc")
    assert out.returncode == 2 and "is a link, not a regular file" in out.stderr


def test_archive_without_manifest_is_refused(run_dir, tmp_path):
    """A plain tar of a run (no manifest) cannot be checked and is refused with a pointer to `bmtrace pack`."""
    plain = tmp_path / "plain.tar"
    with tarfile.open(str(plain), "w") as tar:
        tar.add(str(run_dir), arcname="port")
    out = _cli("unpack", plain, "-C", tmp_path / "pc")
    assert out.returncode == 2 and "bmtrace-manifest.json" in out.stderr and "bmtrace pack" in out.stderr


def test_missing_member_is_reported(run_dir, tmp_path):
    """An archive missing a file its manifest lists is refused, naming that file."""
    def drop_journal(info, data):
        if "/journal/" not in info.name:
            yield info, data

    bad = _rewrite(_pack(run_dir, tmp_path), tmp_path / "bad.tar", drop_journal)
    out = _cli("unpack", bad, "-C", tmp_path / "pc")
    assert out.returncode == 2 and "missing 1 file(s)" in out.stderr and "journal/" in out.stderr


def test_unpack_refuses_to_replace_an_existing_run(run_dir, tmp_path):
    """Unpacking onto an existing folder of the same name is an error, and the folder is untouched."""
    archive = _pack(run_dir, tmp_path)
    (tmp_path / "pc" / "port").mkdir(parents=True)
    (tmp_path / "pc" / "port" / "mine.txt").write_text("keep")
    out = _cli("unpack", archive, "-C", tmp_path / "pc")
    assert out.returncode == 2 and "already exists" in out.stderr
    assert os.listdir(str(tmp_path / "pc" / "port")) == ["mine.txt"]


def test_manifest_lists_sha256_of_every_file(run_dir, tmp_path):
    """The manifest names every run file with its size and sha256 (readable without bmtrace)."""
    import hashlib

    with tarfile.open(str(_pack(run_dir, tmp_path))) as tar:
        doc = json.loads(tar.extractfile("bmtrace-manifest.json").read())
    files = _files(run_dir)
    assert set(doc["files"]) == set(f.replace(os.sep, "/") for f in files)
    for rel, data in files.items():
        assert doc["files"][rel.replace(os.sep, "/")] == {"sha256": hashlib.sha256(data).hexdigest(),
                                                          "size": len(data)}


@pytest.mark.skipif(not os.path.exists(PY38), reason="no Python 3.8 venv at %s (scripts/test.sh builds it)" % PY38)
def test_pack_on_python38_device_unpacks_on_the_pc(run_dir, tmp_path):
    """Packed by Python 3.8 with numpy alone (the device), unpacked and verified by this Python (the PC)."""
    archive = tmp_path / "device.tar"
    out = _cli("pack", run_dir, "-o", archive, python=PY38)
    assert out.returncode == 0, out.stderr
    assert _cli("unpack", archive, "-C", tmp_path / "pc").returncode == 0
    assert _files(tmp_path / "pc" / "port") == _files(run_dir)


def test_parts_left_by_a_killed_recording_do_not_travel(run_dir, tmp_path):
    """.index_ahead/ is a cache of a recording (index_ahead.py), not part of the run: pack leaves it out."""
    import shutil

    copy = tmp_path / "port"
    shutil.copytree(run_dir, copy)
    leftover = copy / ".index_ahead" / "123-abcdef"
    leftover.mkdir(parents=True)
    (leftover / "0.calls.arrow").write_bytes(b"parts")
    archive = _pack(copy, tmp_path)
    with tarfile.open(archive) as tar:
        names = tar.getnames()
    assert "port/run.json" in names and not any(".index_ahead" in name for name in names)
