#!/usr/bin/env bash
# The optimizer work of one GPU call (about 4 minutes on an H100) on a CUDA build (cmake --preset
# cuda, or device_session.sh build): tests, the bitsandbytes comparison and both benchmarks. Writes
# under $OUT (default ./out/gpu-bench):
#   nvidia-smi.csv
#   gpu_kernel_tests.{log,json}        kernels against the CPU oracle
#   gpu_optimizer_tests.{log,json}     placements, offload, state files, refusal (core/optim classes)
#   bnb/bnb_compare.json, bnb.log      ours against bitsandbytes' functions (skipped without a wheel)
#   optimizer_bench.{json,log}         the kernels alone on one 1.07 G tensor
#   optimizer_step.json, optimizer_step.log   every variant, fp32 and bf16, against torch's fused
#                                      AdamW and the bandwidth floors: copy it to
#                                      bench/results/optimizer_step.json
# Usage: bench/gpu/run_optimizer_bench.sh BUILD_DIR   (PARTS="tests bnb kernels variants" to choose)
# Never changes clocks or modes; managed memory stays below cudaMemGetInfo's free figure.
set -uo pipefail

build=${1:?usage: run_optimizer_bench.sh BUILD_DIR}
root=$(cd "$(dirname "$0")/../.." && pwd)
out=${OUT:-$PWD/out/gpu-bench}
parts=${PARTS:-tests bnb kernels variants}
mkdir -p "$out"

find_binary() {
  find "$build" -type f -name "$1" -perm -u+x -print -quit
}
run_part() {  # name, time limit (s), command...
  local name=$1 limit=$2
  shift 2
  echo "== $(date -u +%H:%M:%S) $name" >&2  # stderr: some parts write their JSON to stdout
  if [[ -z $1 ]]; then
    echo "!! $name: binary not built under $build" >&2
    status=1
    return
  fi
  timeout "$limit" "$@" || { echo "!! $name failed (rc $?)" >&2; status=1; }
}

nvidia-smi --query-gpu=name,driver_version,memory.total,memory.used,clocks.max.sm,clocks.max.mem \
  --format=csv >"$out/nvidia-smi.csv" 2>&1 || true
# COMMIT overrides what git says (a copied working tree may carry a stale .git).
commit=${COMMIT:-$(git -C "$root" rev-parse --short=12 HEAD 2>/dev/null || echo unknown)}
status=0
for part in $parts; do
  case $part in
    tests)
      run_part "kernel tests" 240 "$(find_binary optiscope_gpu_kernel_tests)" \
        --gtest_output="json:$out/gpu_kernel_tests.json" >"$out/gpu_kernel_tests.log" 2>&1
      tail -3 "$out/gpu_kernel_tests.log"
      run_part "optimizer tests" 240 "$(find_binary optiscope_gpu_optimizer_tests)" \
        --gtest_output="json:$out/gpu_optimizer_tests.json" >"$out/gpu_optimizer_tests.log" 2>&1
      tail -3 "$out/gpu_optimizer_tests.log" ;;
    bnb)
      run_part "bitsandbytes comparison" 240 env OUT="$out/bnb" bash "$root/tests/bnb/run_bnb_compare.sh" "$build" \
        >"$out/bnb.log" 2>&1
      tail -12 "$out/bnb.log" ;;
    kernels)
      run_part "kernel benchmark" 120 "$(find_binary optiscope_optimizer_bench)" \
        >"$out/optimizer_bench.json" 2>"$out/optimizer_bench.log"
      cat "$out/optimizer_bench.log" ;;
    variants)
      cmd="bench/gpu/run_optimizer_bench.sh BUILD_DIR (optiscope_optimizer_variants_bench --n 1073741824 --tensors 16)"
      run_part "variants benchmark" 300 "$(find_binary optiscope_optimizer_variants_bench)" --n 1073741824 \
        --tensors 16 --commit "$commit" --command "$cmd" --out "$out/optimizer_step.json" \
        2>"$out/optimizer_step.log"
      cat "$out/optimizer_step.log"
      [[ -f $out/optimizer_step.json ]] && grep -A3 '"goal"' "$out/optimizer_step.json" | grep -E 'goal|met' ;;
    *) echo "unknown part $part"; status=1 ;;
  esac
done
exit "$status"
