#!/usr/bin/env bash
# Build the Python 3.10 tpu-mlir environment that compiles ONNX models to bmodels and runs them
# on the CPU simulator ("cmodel"). Used by scripts/make_bmodel_fixtures.py and the simulator tests.
#
# Usage: scripts/build_tpu_mlir_env.sh [VENV_DIR]     (default ~/.cache/bmtrace/tpu-mlir-venv)
# Env:   BMTRACE_PY310  path of a Python 3.10 interpreter (default: pyenv's 3.10.13)
#
# Idempotent: when VENV_DIR/.bmtrace-env-ok matches this script's package list, it only re-applies the
# (cheap) fixes and exits; otherwise it rebuilds the venv from scratch (~2.5 min, 2 GB).
# The fixes applied follow /work/shared/design/SOPHON.md (simulator section).
set -euo pipefail

ENV_VERSION="tpu_mlir==1.30.2 onnx==1.14.1 onnxruntime==1.16.3 onnxsim==0.4.17 psutil"
VENV="${1:-$HOME/.cache/bmtrace/tpu-mlir-venv}"
STAMP="$VENV/.bmtrace-env-ok"

# The documented fixes; cheap and idempotent, so they also run on an already built env.
apply_fixes() {
SITE="$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
TPU_LIB="$SITE/tpu_mlir/lib"

# Fix 1: the wheel bundles glibc pieces and libpython built against a newer glibc; on Debian 12 every
# tool fails with "GLIBC_2.36 not found" until they are moved out of the loader's path.
mkdir -p "$TPU_LIB/third_party.disabled"
for lib in libc.so.6 libm.so.6 libpthread.so.0 libpython3.10.so.1.0; do
    if [ -e "$TPU_LIB/third_party/$lib" ]; then
        mv "$TPU_LIB/third_party/$lib" "$TPU_LIB/third_party.disabled/$lib"
    fi
done

# Fix 2: transform/OnnxOpt.py and calibration/kld_calibrator.py import torch at top level but only
# call torch.tensor(x).numpy(); a tiny stand-in avoids a multi-GB torch install in this venv.
if [ ! -e "$SITE/torch" ] || grep -q "bmtrace-stub" "$SITE/torch/__init__.py" 2>/dev/null; then
    mkdir -p "$SITE/torch"
    cat > "$SITE/torch/__init__.py" <<'PY'
"""Stand-in for torch inside the bmtrace tpu-mlir venv: only what tpu-mlir's ONNX path touches.

Written by bmtrace's scripts/build_tpu_mlir_env.sh; the real torch is not installed here.
"""
import numpy as _np

__version__ = "0.0.0+bmtrace-stub"


class Tensor(object):
    """Holds a numpy array; supports .numpy() like a CPU torch tensor."""

    def __init__(self, data):
        self._data = _np.asarray(data)

    def numpy(self):
        return self._data

    @property
    def shape(self):
        return self._data.shape


def tensor(data, dtype=None):
    return Tensor(_np.asarray(data, dtype=dtype))


def from_numpy(array):
    return Tensor(array)


def __getattr__(name):
    # Optional-torch probes (onnxruntime_extensions does `try: import torch ... except ImportError`)
    # must see "no torch" for anything beyond the stand-in, not an AttributeError.
    if name.startswith("__"):
        raise AttributeError(name)
    raise ImportError("torch.%s is not available: this is bmtrace's minimal torch stand-in" % name)
PY
fi
}

if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$ENV_VERSION" ]; then
    apply_fixes   # cheap and idempotent: keeps an env built by an older script current
    echo "tpu-mlir env already built at $VENV"
    exit 0
fi

PY310="${BMTRACE_PY310:-}"
if [ -z "$PY310" ]; then
    if command -v pyenv >/dev/null 2>&1 && [ -x "$(pyenv root)/versions/3.10.13/bin/python" ]; then
        PY310="$(pyenv root)/versions/3.10.13/bin/python"
    elif command -v python3.10 >/dev/null 2>&1; then
        PY310="$(command -v python3.10)"
    else
        echo "error: no Python 3.10 found; the tpu_mlir wheel supports only 3.10." >&2
        echo "       install one (pyenv install 3.10.13) or set BMTRACE_PY310=/path/to/python3.10" >&2
        exit 2
    fi
fi

start=$(date +%s)
echo "building tpu-mlir env at $VENV with $PY310"
rm -rf "$VENV"
mkdir -p "$(dirname "$VENV")"
"$PY310" -m venv "$VENV"
"$VENV/bin/pip" install --quiet --disable-pip-version-check \
    tpu_mlir==1.30.2 onnx==1.14.1 onnxruntime==1.16.3 onnxsim==0.4.17 psutil
apply_fixes

# Smoke test: the tools start and the runtime library loads.
"$VENV/bin/model_tool" 2>&1 | head -n 3 >/dev/null || true
"$VENV/bin/python" -c "import ctypes, os, tpu_mlir; d = os.path.join(os.path.dirname(tpu_mlir.__file__), 'lib'); ctypes.CDLL(os.path.join(d, 'libbmrt.so'))"
(cd "$SITE/tpu_mlir/python" && "$VENV/bin/python" -c "import transform.OnnxOpt")

echo "$ENV_VERSION" > "$STAMP"
echo "tpu-mlir env ready at $VENV in $(( $(date +%s) - start )) s"
