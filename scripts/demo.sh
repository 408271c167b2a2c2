#!/usr/bin/env bash
# The README's demo: why does a SOPHON port of a resnet18 classifier disagree with its PyTorch original?
# Installs what the example needs (bmtrace from this checkout plus torch, torchvision, OpenCV, Pillow,
# ONNX Runtime, pyarrow) with pip when any of it is missing, then runs examples/resnet_align/demo.py:
# record both programs, `bmtrace diff --isolate`, apply the fix, diff again.
#
# Usage:  bash scripts/demo.sh [--runtime auto|sail|simulator|onnxruntime] [--out DIR]
# Env:    PYTHON  interpreter to use (default: python in an active virtualenv, else python3)
#         TORCH_INDEX_URL  optional pip index for torch/torchvision, e.g. https://download.pytorch.org/whl/cpu
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [ -n "${VIRTUAL_ENV:-}" ]; then
    PYTHON="${PYTHON:-$VIRTUAL_ENV/bin/python}"
else
    PYTHON="${PYTHON:-python3}"
fi
# Absolute, so it still works after the `cd /` below.
PYTHON="$("$PYTHON" -c 'import sys; print(sys.executable)')" || {
    echo "demo: cannot run Python ($PYTHON); set PYTHON=/path/to/python3" >&2; exit 2; }

# Ready when every package imports and `bmtrace` is this checkout (not an older installed copy).
# Checked from / so that a bmtrace folder in the current directory cannot answer for the installed one.
ready() {
    (cd / && "$PYTHON" - "$ROOT") <<'PY' >/dev/null 2>&1
import os, sys
import bmtrace, cv2, PIL, numpy, onnxruntime, pyarrow, torch, torchvision
root = os.path.realpath(sys.argv[1])
sys.exit(0 if os.path.realpath(bmtrace.__file__).startswith(root + os.sep) else 1)
PY
}

if ! ready; then
    PREFIX="$("$PYTHON" -c 'import sys; print(sys.prefix)')"
    echo "demo: installing bmtrace from $ROOT and the example's dependencies into $PREFIX"
    if [ -n "${TORCH_INDEX_URL:-}" ] && ! "$PYTHON" -c "import torch, torchvision" >/dev/null 2>&1; then
        "$PYTHON" -m pip install --quiet --index-url "$TORCH_INDEX_URL" torch torchvision
    fi
    if ! "$PYTHON" -m pip install --quiet --disable-pip-version-check -e "$ROOT[analysis,imaging,onnx,torch]"; then
        echo "demo: pip install failed. If pip refuses to touch the system Python (externally managed)," >&2
        echo "      make a virtualenv first:" >&2
        echo "      python3 -m venv .venv && . .venv/bin/activate && bash scripts/demo.sh" >&2
        exit 2
    fi
    ready || { echo "demo: packages still missing after pip install; see the messages above" >&2; exit 2; }
fi

cd "$ROOT"
exec "$PYTHON" examples/resnet_align/demo.py "$@"
