#!/usr/bin/env bash
# Configures and builds a preset (default: "default"), after installer/setup.sh.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
preset=${1:-default}
cd "$root"
"$root/installer/setup.sh"
if [ ! -f "build/$preset/CMakeCache.txt" ]; then cmake --preset "$preset" > /dev/null; fi
cmake --build --preset "$preset" -j "$(nproc)"
