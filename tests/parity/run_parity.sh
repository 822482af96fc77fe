#!/usr/bin/env bash
# The parity test as ctest runs it: Python side (installed once into .deps by setup_python.sh)
# writes a random Llama checkpoint, reference logits/loss and tokenizer ids with transformers and
# tokenizers; the C++ side loads them and compares. Exit 77 (a ctest skip) with a loud message
# when the Python side cannot be installed.
# Usage: run_parity.sh PARITY_TEST_BINARY WORK_DIR
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
binary=${1:?usage: run_parity.sh PARITY_TEST_BINARY WORK_DIR}
work=${2:?usage: run_parity.sh PARITY_TEST_BINARY WORK_DIR}

set +e
site=$("$here/setup_python.sh" | tail -n 1)
rc=${PIPESTATUS[0]}
set -e
if [ "$rc" -ne 0 ]; then
  echo "################################################################################"
  echo "# PARITY TEST SKIPPED: the Python side (torch + transformers from PyPI) could not"
  echo "# be installed on this machine; see the lines above. Nothing was compared."
  echo "################################################################################"
  exit 77
fi

cuda_lib=/usr/local/cuda/lib64
for d in "$site"/nvidia/*/lib; do [ -d "$d" ] && cuda_lib="$cuda_lib:$d"; done
rm -rf "$work"
mkdir -p "$work"
PYTHONPATH="$site" LD_LIBRARY_PATH="$cuda_lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" \
  python3 "$here/make_reference.py" "$work" 2>&1 | grep -v "Writing model shards"
OPTISCOPE_PARITY_DIR="$work" "$binary"
