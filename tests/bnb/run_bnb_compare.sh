#!/usr/bin/env bash
# Our 8-bit and 32-bit AdamW against bitsandbytes' own CUDA functions (compare_with_bnb.py), on a
# machine with a GPU and python3 with torch. bitsandbytes comes from a wheel carried here (no
# network on the GPU machine), unpacked into a temporary folder: a wheel is a zip, and unpacking it
# is all an install of this pure-Python-plus-.so wheel does, so neither pip nor a venv is needed.
#
#   tests/bnb/run_bnb_compare.sh BUILD_DIR          (OUT: result folder, default ./out/bnb)
#   BNB_WHEEL=path/to/bitsandbytes-*.whl to choose the wheel; default build-bnb/wheels/, filled here by
#   pip download bitsandbytes --no-deps -d build-bnb/wheels. An already unpacked build-bnb/site/
#   (the wheel without the .so files of other CUDA, ROCm and XPU versions: 8 MB instead of 43 MB to
#   carry) is used as it is.
# Exit status: 0 passed or skipped (with a loud SKIPPED line), 1 failed.
set -uo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:?usage: run_bnb_compare.sh BUILD_DIR}
out=${OUT:-$root/out/bnb}
mkdir -p "$out"
loud_skip() {
  echo "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!"
  echo "!! SKIPPED: bitsandbytes comparison not run: $*"
  echo "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!"
  exit 0
}
exe=$(find "$build" -type f -name optiscope_bnb_compare -perm -u+x -print -quit)
[[ -n $exe ]] || loud_skip "optiscope_bnb_compare is not built under $build (CUDA build needed)"
wheel=${BNB_WHEEL:-$(ls "$root"/build-bnb/wheels/bitsandbytes-*.whl 2>/dev/null | sort -V | tail -1)}
site=$(mktemp -d)
trap 'rm -rf "$site"' EXIT
if [[ -z ${BNB_WHEEL:-} && -d $root/build-bnb/site/bitsandbytes ]]; then
  site_unpacked=$root/build-bnb/site
  echo "bitsandbytes from $site_unpacked"
  PYTHONPATH="$site_unpacked${PYTHONPATH:+:$PYTHONPATH}" exec python3 "$root/tests/bnb/compare_with_bnb.py" --exe "$exe" --out "$out"
elif [[ -n $wheel && -f $wheel ]]; then
  python3 -m zipfile -e "$wheel" "$site" || loud_skip "cannot unpack $wheel"
  echo "bitsandbytes from $(basename "$wheel")"
else
  echo "no bitsandbytes wheel found (BNB_WHEEL or build-bnb/wheels/): using whatever python3 imports"
fi
PYTHONPATH="$site${PYTHONPATH:+:$PYTHONPATH}" python3 "$root/tests/bnb/compare_with_bnb.py" --exe "$exe" --out "$out"
