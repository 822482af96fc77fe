#!/usr/bin/env bash
# The GGUF parity test as ctest runs it: transformers reads the SmolLM2 GGUF file that
# installer/setup.sh fetched into .deps/models (gguf_reference.py writes its logits and token
# ids), then the C++ side reads the same file and compares. Exit 77 (a ctest skip) with a loud
# message when the model, the corpus or the Python side is missing.
# Usage: run_gguf_parity.sh PARITY_TEST_BINARY WORK_DIR
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
binary=${1:?usage: run_gguf_parity.sh PARITY_TEST_BINARY WORK_DIR}
work=${2:?usage: run_gguf_parity.sh PARITY_TEST_BINARY WORK_DIR}
model=${OPTISCOPE_GGUF:-$root/.deps/models/SmolLM2-135M-Instruct.Q4_1.gguf}
corpus=${OPTISCOPE_CORPUS:-$root/.deps/corpus/fortunes.txt}

skip() {
  echo "################################################################################"
  echo "# GGUF PARITY TEST SKIPPED: $*"
  echo "# Nothing was compared. installer/setup.sh fetches the model and builds the corpus."
  echo "################################################################################"
  exit 77
}
[ -f "$model" ] || skip "no model at $model"
[ -f "$corpus" ] || skip "no corpus at $corpus"
set +e
site=$("$here/setup_python.sh" | tail -n 1)
rc=${PIPESTATUS[0]}
set -e
[ "$rc" -eq 0 ] || skip "the Python side (torch, transformers, gguf from PyPI) could not be installed"

cuda_lib=/usr/local/cuda/lib64
for d in "$site"/nvidia/*/lib; do [ -d "$d" ] && cuda_lib="$cuda_lib:$d"; done
rm -rf "$work"
mkdir -p "$work"
PYTHONPATH="$site" LD_LIBRARY_PATH="$cuda_lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" HF_HUB_OFFLINE=1 \
  python3 "$here/gguf_reference.py" "$model" "$corpus" "$work" 1000 2>&1 | grep -v "de-quantizing\|Loading weights"
OPTISCOPE_PARITY_DIR="$work" OPTISCOPE_GGUF="$model" "$binary"
