#!/usr/bin/env bash
# One call on the GPU machine: Optiscope's engine (fused ops on, and off for comparison) and
# Hugging Face Transformers (PyTorch eager, and wrapped in torch.compile; SDPA) on the Llama-3.2-1B
# and 3B geometries, batch 4 x 512, bf16 weights, fused AdamW, random init, one after the other in
# the same call; writes bench/results/engine_throughput.json (and a copy under $OUT when set).
# Needs a CUDA build with optiscope_engine_bench (cmake --preset cuda, or bench/gpu/device_session.sh
# build) and python3 with torch + transformers.
# Usage: bench/engine/run_engine_bench.sh [BUILD_DIR] [geometries...]   (default: build/cuda, 1b 3b)
# Environment: WARMUP, STEPS (3, 20); UNFUSED=0 skips the fused-ops-off run, COMPILED=0 the
# torch.compile reference; LOSS_CHUNKS (4; 0 skips it) the run with the fused linear +
# cross-entropy loss (--loss-chunks, core/model/chunked_cross_entropy.h) beside the default plain
# loss; RUN_TIMEOUT caps each run in seconds (300), so one stuck run (a long compile) leaves the
# others' numbers.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-$root/build/cuda}
shift || true
geometries=${*:-llama-3.2-1b llama-3.2-3b}
warmup=${WARMUP:-3}
steps=${STEPS:-20}
unfused=${UNFUSED:-1}
compiled=${COMPILED:-1}
loss_chunks=${LOSS_CHUNKS:-4}
run_timeout=${RUN_TIMEOUT:-300}
out_json="$root/bench/results/engine_throughput.json"

bench=$(find "$build" -type f -name optiscope_engine_bench -perm -u+x -print -quit)
if [[ -z $bench ]]; then
  echo "run_engine_bench.sh: optiscope_engine_bench not found under $build." >&2
  echo "  bench/CMakeLists.txt must add_subdirectory(engine); then: cmake --build $build --target optiscope_engine_bench" >&2
  exit 2
fi

card=$(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null | head -1 || echo unknown)
commit=$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)
dirty=$(git -C "$root" status --porcelain -- core bench 2>/dev/null | head -1)
[[ -n $dirty ]] && commit="$commit+dirty"
tmp=$(mktemp -d)
# run NAME COMMAND...: one measurement into $tmp/NAME.json, its stderr into $tmp/NAME.log.
run() {
  local name=$1
  shift
  echo "== $name" >&2
  timeout "$run_timeout" "$@" > "$tmp/$name.json" 2> "$tmp/$name.log" || { tail -5 "$tmp/$name.log" >&2; echo '{}' >> "$tmp/$name.json"; }
  tail -1 "$tmp/$name.json" >&2
}
# summarise: bench/results/engine_throughput.json from the geometries measured so far (run after
# each one, so that a run cut short by a timeout still leaves the finished ones).
summarise() {
  python3 - "$tmp" "$out_json" "$card" "$commit" "$0 $build $geometries" "$warmup" "$steps" $done_geometries <<'PY'
import json, sys, datetime
tmp, out, card, commit, command, warmup, steps, *geoms = sys.argv[1:]
def load(p):
    try:
        with open(p) as f: return json.loads(f.read().strip().splitlines()[-1])
    except Exception as e:
        return {"error": str(e)}
import os
def ratio(a, b):
    return a / b if a and b else None
rows = {}
for g in geoms:
    ours, ref = load(f"{tmp}/{g}.ours.json"), load(f"{tmp}/{g}.ref.json")
    row = {"tokens_per_s": ours.get("tokens_per_s"), "ref_tokens_per_s": ref.get("tokens_per_s"),
           "peak_gib": ours.get("peak_gib"), "ref_peak_gib": ref.get("peak_gib"),
           "step_ms": ours.get("step_ms"), "ref_step_ms": ref.get("step_ms"), "ours": ours, "reference": ref}
    row["speed_ratio"] = ratio(row["tokens_per_s"], row["ref_tokens_per_s"])
    row["peak_ratio"] = ratio(row["peak_gib"], row["ref_peak_gib"])
    # The optional runs: their figures under a prefix, the whole object under its own key.
    for run, prefix, key in (("compiled", "compiled_", "compiled_reference"), ("unfused", "unfused_", "ours_unfused"),
                             ("fusedloss", "fused_loss_", "ours_fused_loss")):
        if not os.path.exists(f"{tmp}/{g}.{run}.json"):
            continue
        other = load(f"{tmp}/{g}.{run}.json")
        row.update({prefix + k: other.get(k) for k in ("tokens_per_s", "peak_gib", "step_ms")})
        row[key] = other
    row["compiled_speed_ratio"] = ratio(row["tokens_per_s"], row.get("compiled_tokens_per_s"))
    row["compiled_peak_ratio"] = ratio(row["peak_gib"], row.get("compiled_peak_gib"))
    row["fused_loss_compiled_speed_ratio"] = ratio(row.get("fused_loss_tokens_per_s"), row.get("compiled_tokens_per_s"))
    row["fused_loss_compiled_peak_ratio"] = ratio(row.get("fused_loss_peak_gib"), row.get("compiled_peak_gib"))
    rows[g] = row
doc = {"card": card, "commit": commit, "command": command,
       "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%MZ"),
       "settings": {"batch": 4, "seq_len": 512, "precision": "bf16 weights", "optim": "adamw_torch_fused",
                    "init": "random", "warmup_steps": int(warmup), "timed_steps": int(steps),
                    "reference": "transformers LlamaForCausalLM, PyTorch eager, SDPA attention",
                    "compiled_reference": "the same model wrapped in torch.compile (default mode)",
                    "ours_unfused": "optiscope_engine_bench --no-fused (OPTISCOPE_FUSED_OPS=0)",
                    "ours_fused_loss": "optiscope_engine_bench --loss-chunks N (the fused, chunked linear + cross-entropy; N in its spec)"},
       "geometries": rows}
with open(out, "w") as f:
    json.dump(doc, f, indent=2)
    f.write("\n")
def cell(r, prefix):
    ms, tps, peak = r.get(prefix + "step_ms"), r.get(prefix + "tokens_per_s"), r.get(prefix + "peak_gib")
    return f"{ms or 0:6.1f} ms {tps or 0:>8,.0f} tok/s {peak or 0:5.2f} GiB"
print(f"{'geometry':14} | {'optiscope (fused)':34} | {'optiscope (fused loss)':34} | {'optiscope (unfused)':34} | {'transformers eager':34} | torch.compile")
for g, r in rows.items():
    print(f"{g:14} | {cell(r, '')} | {cell(r, 'fused_loss_')} | {cell(r, 'unfused_')} | {cell(r, 'ref_')} | {cell(r, 'compiled_')}")
    if r.get("compiled_speed_ratio"):
        print(f"{'':14}   speed vs compiled {r['compiled_speed_ratio']:.3f}x, peak vs compiled {r['compiled_peak_ratio'] or 0:.3f}x")
    if r.get("fused_loss_compiled_speed_ratio"):
        print(f"{'':14}   fused loss: speed vs compiled {r['fused_loss_compiled_speed_ratio']:.3f}x, peak vs compiled {r['fused_loss_compiled_peak_ratio'] or 0:.3f}x")
PY
  if [[ -n ${OUT:-} ]]; then mkdir -p "$OUT" && cp "$out_json" "$OUT/"; fi
}
done_geometries=""
for g in $geometries; do
  ours=("$bench" --preset "$g" --batch 4 --seq-len 512 --precision bf16 --optim adamw_torch_fused --warmup "$warmup" --steps "$steps")
  ref=(python3 "$root/bench/engine/hf_reference.py" --geometry "$g" --batch 4 --seq-len 512 --warmup "$warmup" --steps "$steps")
  run "$g.ours" "${ours[@]}"
  if [[ $loss_chunks != 0 ]]; then run "$g.fusedloss" "${ours[@]}" --loss-chunks "$loss_chunks"; fi
  if [[ $unfused == 1 ]]; then run "$g.unfused" "${ours[@]}" --no-fused; fi
  run "$g.ref" "${ref[@]}"
  if [[ $compiled == 1 ]]; then run "$g.compiled" "${ref[@]}" --compile; fi
  done_geometries="$done_geometries $g"
  summarise
done

rm -rf "$tmp"
