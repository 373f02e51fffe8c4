#!/usr/bin/env bash
# Install everything needed and run the whole test suite headless (as CI does), listing
# the 15 slowest tests. Extra arguments go to pytest, e.g. `-m "not slow"` for a quick run.
set -euo pipefail
cd "$(dirname "$0")/.."
need=()
command -v xvfb-run >/dev/null 2>&1 || need+=(xvfb xauth)
for lib in libxcb-icccm4 libxcb-keysyms1 libxcb-xinerama0 libxcb-randr0 libxcb-render-util0 \
           libxcb-image0 libxkbcommon-x11-0 libgl1 libegl1 libfontconfig1 libdbus-1-3; do
  dpkg -s "$lib" >/dev/null 2>&1 || need+=("$lib")
done
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
  else
    echo "missing system packages (install them as root): ${need[*]}" >&2
  fi
fi
bash scripts/setup.sh --testing
export QT_QPA_PLATFORM=xcb CUDA_VISIBLE_DEVICES=""
exec xvfb-run -a -s "-screen 0 1440x900x24" .venv/bin/python -m pytest --durations=15 "$@"
