"""Snapshot of the recording process: what the diff's environment section compares."""
from __future__ import annotations

import collections
import os
import socket
import sys

_NoUname = collections.namedtuple("_NoUname", "sysname nodename release version machine")
ENV_PREFIXES = ("BMRT_", "SAIL_", "OPENCV_", "BMCV_")
# (name in the snapshot, module in sys.modules); only reported when the program imported it.
LIBRARIES = (
    ("numpy", "numpy"),
    ("cv2", "cv2"),
    ("torch", "torch"),
    ("torchvision", "torchvision"),
    ("PIL", "PIL"),
    ("sail", "sophon.sail"),
    ("onnxruntime", "onnxruntime"),
)


def process_snapshot():
    """Host, interpreter, command line and versions of the libraries the program has imported."""
    return {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "platform": platform_string(),
        "machine": _uname().machine,
        "python": sys.version.split()[0],
        "python_implementation": _implementation(),
        "executable": sys.executable,
        "argv": list(sys.argv),
        "cwd": os.getcwd(),
        "versions": library_versions(),
        "opencv_build": opencv_build_summary(),
        "env": {k: v for k, v in sorted(os.environ.items()) if k.startswith(ENV_PREFIXES)},
        # how the program was auto-traced from the environment (`record --auto`), so that its re-runs
        # (attribute, substitute) are too; None: it was not
        "auto": {"libraries": os.environ["BMTRACE_AUTO"], "sample_from": os.environ.get("BMTRACE_AUTO_SAMPLE_FROM")}
        if os.environ.get("BMTRACE_AUTO") else None,
    }


# Why not the platform module: its uname() (3.8) and uname().processor / platform() (3.9+) run
# `uname -p` in a subprocess, and 3.8-3.11 guard that property with an RLock. The first traced call
# can happen in any thread while another forks: the child inherits the held lock and the pipe and
# both processes hang. Only direct system calls are used here.
def _uname():
    if hasattr(os, "uname"):
        return os.uname()
    return _NoUname(sys.platform, socket.gethostname(), "", "", "")  # Windows: no uname system call


def platform_string():
    """`platform.platform()`'s usual form (Linux-5.15.0-x86_64-with-glibc2.35), without subprocesses."""
    uname = _uname()
    parts = [uname.sysname, uname.release, uname.machine]
    libc = _libc()
    if libc:
        parts += ["with", libc]
    return "-".join(p.replace(" ", "_") for p in parts if p)


def _libc():
    try:
        name, version = os.confstr("CS_GNU_LIBC_VERSION").split()  # "glibc 2.35": a system call
    except (AttributeError, ValueError, OSError):
        return ""
    return name + version


def _implementation():
    name = sys.implementation.name  # "cpython"; platform.python_implementation() says "CPython"
    return {"cpython": "CPython", "pypy": "PyPy", "ironpython": "IronPython"}.get(name, name)


def library_versions():
    versions = {}
    for name, module_name in LIBRARIES:
        module = sys.modules.get(module_name)
        if module is None:
            continue
        version = getattr(module, "__version__", None) or getattr(module, "VERSION", None)
        versions[name] = str(version) if version is not None else "unknown"
    return versions


def opencv_build_summary():
    """The OpenCV build lines that tell Sophon OpenCV (bmcv/ion backends) from upstream builds."""
    cv2 = sys.modules.get("cv2")
    if cv2 is None or not hasattr(cv2, "getBuildInformation"):
        return None
    try:
        info = cv2.getBuildInformation()
    except Exception:
        return None
    wanted = ("Version control", "Platform", "Timestamp", "Host", "Video I/O", "FFMPEG", "Parallel framework")
    lines = [line.strip() for line in info.splitlines()
             if line.strip().startswith(wanted) or "sophon" in line.lower() or "bmcv" in line.lower()]
    return {"summary": lines, "is_sophon": any("sophon" in l.lower() or "bmcv" in l.lower() for l in lines)}
