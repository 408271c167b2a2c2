"""Snapshot of the recording process: what the diff's environment section compares."""
from __future__ import annotations

import os
import platform
import socket
import sys

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
        "platform": platform.platform(),
        "machine": platform.machine(),
        "python": sys.version.split()[0],
        "python_implementation": platform.python_implementation(),
        "executable": sys.executable,
        "argv": list(sys.argv),
        "cwd": os.getcwd(),
        "versions": library_versions(),
        "opencv_build": opencv_build_summary(),
        "env": {k: v for k, v in sorted(os.environ.items()) if k.startswith(ENV_PREFIXES)},
    }


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
