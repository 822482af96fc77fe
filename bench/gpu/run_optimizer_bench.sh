#!/usr/bin/env bash
# Runs the GPU kernel tests and the optimizer step benchmark of a CUDA build (cmake --preset cuda)
# and writes their output under $OUT (default: ./out/gpu-bench):
#   nvidia-smi.csv, gpu_kernel_tests.{log,json}, optimizer_bench.{json,log}
# Usage: bench/gpu/run_optimizer_bench.sh BUILD_DIR [optiscope_optimizer_bench arguments...]
set -euo pipefail

build=${1:?usage: run_optimizer_bench.sh BUILD_DIR [bench arguments...]}
shift
out=${OUT:-$PWD/out/gpu-bench}
mkdir -p "$out"

find_binary() {
  local path
  path=$(find "$build" -type f -name "$1" -perm -u+x -print -quit)
  if [[ -z $path ]]; then
    echo "run_optimizer_bench.sh: $1 not found under $build (build it first)" >&2
    exit 2
  fi
  echo "$path"
}
tests=$(find_binary optiscope_gpu_kernel_tests)
bench=$(find_binary optiscope_optimizer_bench)

nvidia-smi --query-gpu=name,driver_version,memory.total,memory.used,clocks.max.sm,clocks.max.mem \
  --format=csv >"$out/nvidia-smi.csv" 2>&1 || true

status=0
"$tests" --gtest_output="json:$out/gpu_kernel_tests.json" 2>&1 | tee "$out/gpu_kernel_tests.log" || status=1
"$bench" "$@" >"$out/optimizer_bench.json" 2>"$out/optimizer_bench.log" || status=1
cat "$out/optimizer_bench.log" >&2
cat "$out/optimizer_bench.json"
exit "$status"
