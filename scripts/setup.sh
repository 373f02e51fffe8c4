#!/usr/bin/env bash
# Create .venv and install napari-pathrobust into it (idempotent).
#   scripts/setup.sh            the plugin, engine, CLI and napari
#   scripts/setup.sh --testing  plus the test tools
set -euo pipefail
cd "$(dirname "$0")/.."
extra="napari"
[ "${1:-}" = "--testing" ] && extra="testing"
PY=${PYTHON:-}
if [ -z "$PY" ]; then
  for candidate in python3.11 python3.12 python3.13 python3; do
    if command -v "$candidate" >/dev/null 2>&1; then PY=$candidate; break; fi
  done
fi
[ -x .venv/bin/python ] || "$PY" -m venv .venv
# CPU torch first (pinned: an unpinned torch pulls a multi-GB CUDA build)
.venv/bin/python -m pip install -q --disable-pip-version-check "torch==2.13.0"
.venv/bin/python -m pip install -q --disable-pip-version-check -e ".[$extra]"
