#!/usr/bin/env bash
# Install what the HTML report's browser test needs: Debian's chromium, its matching chromedriver,
# and the selenium Python client (all from the ordinary registries; nothing downloads a browser build).
#
# Usage: bash scripts/install_browser.sh [PYTHON]    (PYTHON defaults to python3)
# Idempotent: skips what is already installed. Needs root for apt-get.
set -euo pipefail

PYTHON="${1:-python3}"

have_browser() {
    [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]
}

if ! have_browser; then
    if [ "$(id -u)" -ne 0 ]; then
        echo "install_browser.sh: chromium/chromedriver missing and not root; run: sudo apt-get install chromium chromium-driver" >&2
        exit 1
    fi
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q
    # chromium-driver pins the same version as chromium, so the pair always matches.
    apt-get install -y -q --no-install-recommends chromium chromium-driver fonts-dejavu-core
fi

if ! "$PYTHON" -c "import selenium" 2>/dev/null; then
    "$PYTHON" -m pip install -q "selenium>=4.11"
fi

/usr/bin/chromium --version
/usr/bin/chromedriver --version
"$PYTHON" -c "import selenium; print('selenium', selenium.__version__)"
