#!/usr/bin/env bash
# Sets up, builds and runs every test of Optiscope (GPU tests skip with a message on machines
# without one). Pass "asan" to run the suite under AddressSanitizer and UBSan instead.
set -euo pipefail
root=$(cd "$(dirname "$0")" && pwd)
preset=${1:-default}
"$root/installer/build.sh" "$preset"
cd "$root"
ctest --preset "$preset" -j "$(nproc)"
