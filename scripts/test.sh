#!/usr/bin/env bash
# The whole test suite on a fresh machine: installs what the tests need, lints, runs pytest.
set -euo pipefail
cd "$(dirname "$0")/.."

python -m pip install --quiet --disable-pip-version-check -r requirements.txt -r requirements-dev.txt

# Browser tests drive Debian's Chromium (Playwright cannot download its own browser here).
if ! command -v chromium >/dev/null 2>&1; then
    SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null
fi

ruff check .
ruff format --check .
python -m pytest "$@"
