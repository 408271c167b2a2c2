#!/usr/bin/env bash
# The README's test command (and what .ci/run calls): install everything the tests use, then run them.
#   - bmtrace with its dev extras, torch + torchvision (pip takes them from this machine's disk)
#   - a Python 3.8 venv with numpy + wrapt only, to prove the recording path runs on device images
#   - the Python 3.10 tpu-mlir simulator environment (real BModels compiled and run on the CPU)
#   - Debian's chromium + chromedriver for the HTML report's browser test
# Usage: bash scripts/test.sh [PYTEST ARGS]
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PYTHON="${PYTHON:-python3}"
CACHE="${BMTRACE_CACHE:-$HOME/.cache/bmtrace}"

step() { printf '\n== %s (%s)\n' "$1" "$(date +%H:%M:%S)"; }

step "installing bmtrace[dev] and torch/torchvision"
"$PYTHON" -m pip install --quiet --disable-pip-version-check -e ".[dev]" "torch==2.14.1" "torchvision==0.29.1"

step "Python 3.8 recording environment (numpy + wrapt only)"
PY38="${BMTRACE_PY38_BASE:-$(pyenv root 2>/dev/null || echo "$HOME/.pyenv")/versions/3.8.18/bin/python}"
if [ -x "$PY38" ]; then
    if [ ! -x "$CACHE/py38-venv/bin/python" ]; then
        "$PY38" -m venv "$CACHE/py38-venv"
        "$CACHE/py38-venv/bin/pip" install --quiet --disable-pip-version-check numpy wrapt
    fi
    export BMTRACE_PY38="$CACHE/py38-venv/bin/python"
else
    echo "no Python 3.8 interpreter at $PY38: the Python 3.8 recording test will be skipped"
fi

if [ -f scripts/build_tpu_mlir_env.sh ]; then
    step "tpu-mlir simulator environment"
    bash scripts/build_tpu_mlir_env.sh "$CACHE/tpu-mlir-venv"
    export BMTRACE_TPU_MLIR_VENV="$CACHE/tpu-mlir-venv"
fi

if [ -f scripts/install_browser.sh ]; then
    step "headless browser for the report test"
    bash scripts/install_browser.sh "$PYTHON"
fi

step "running the tests"
# pip install -e built the C sweep (bmtrace/compare/_fused.c) here, where a compiler exists: a build
# that silently failed would leave the tests of the numpy fallback only, so it fails a test instead.
export BMTRACE_REQUIRE_FUSED=1
exec "$PYTHON" -m pytest -q -p no:cacheprovider "$@"
