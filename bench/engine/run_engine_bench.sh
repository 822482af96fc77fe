#!/usr/bin/env bash
# One call on the GPU machine: Optiscope's engine and Hugging Face Transformers (PyTorch eager,
# SDPA) on the Llama-3.2-1B and 3B geometries, batch 4 x 512, bf16 weights, fused AdamW, random
# init, one after the other in the same call; writes bench/results/engine_throughput.json (and a
# copy under $OUT when set). Needs a CUDA build with optiscope_engine_bench (cmake --preset cuda,
# or bench/gpu/device_session.sh build) and python3 with torch + transformers.
# Usage: bench/engine/run_engine_bench.sh [BUILD_DIR] [geometries...]   (default: build/cuda, 1b 3b)
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-$root/build/cuda}
shift || true
geometries=${*:-llama-3.2-1b llama-3.2-3b}
warmup=${WARMUP:-3}
steps=${STEPS:-20}
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
for g in $geometries; do
  echo "== $g: optiscope" >&2
  "$bench" --preset "$g" --batch 4 --seq-len 512 --precision bf16 --optim adamw_torch_fused \
    --warmup "$warmup" --steps "$steps" > "$tmp/$g.ours.json" || true
  cat "$tmp/$g.ours.json" >&2
  echo "== $g: transformers" >&2
  python3 "$root/bench/engine/hf_reference.py" --geometry "$g" --batch 4 --seq-len 512 \
    --warmup "$warmup" --steps "$steps" > "$tmp/$g.ref.json" 2> "$tmp/$g.ref.log" || { tail -5 "$tmp/$g.ref.log" >&2; echo '{}' > "$tmp/$g.ref.json"; }
  cat "$tmp/$g.ref.json" >&2
done

python3 - "$tmp" "$out_json" "$card" "$commit" "$0 $build $geometries" "$warmup" "$steps" $geometries <<'PY'
import json, sys, datetime
tmp, out, card, commit, command, warmup, steps, *geoms = sys.argv[1:]
def load(p):
    try:
        with open(p) as f: return json.loads(f.read().strip().splitlines()[-1])
    except Exception as e:
        return {"error": str(e)}
rows = {}
for g in geoms:
    ours, ref = load(f"{tmp}/{g}.ours.json"), load(f"{tmp}/{g}.ref.json")
    row = {"tokens_per_s": ours.get("tokens_per_s"), "ref_tokens_per_s": ref.get("tokens_per_s"),
           "peak_gib": ours.get("peak_gib"), "ref_peak_gib": ref.get("peak_gib"),
           "step_ms": ours.get("step_ms"), "ref_step_ms": ref.get("step_ms"), "ours": ours, "reference": ref}
    if row["tokens_per_s"] and row["ref_tokens_per_s"]:
        row["speed_ratio"] = row["tokens_per_s"] / row["ref_tokens_per_s"]
    if row["peak_gib"] and row["ref_peak_gib"]:
        row["peak_ratio"] = row["peak_gib"] / row["ref_peak_gib"]
    rows[g] = row
doc = {"card": card, "commit": commit, "command": command,
       "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%MZ"),
       "settings": {"batch": 4, "seq_len": 512, "precision": "bf16 weights", "optim": "adamw_torch_fused",
                    "init": "random", "warmup_steps": int(warmup), "timed_steps": int(steps),
                    "reference": "transformers LlamaForCausalLM, PyTorch eager, SDPA attention"},
       "geometries": rows}
with open(out, "w") as f:
    json.dump(doc, f, indent=2)
    f.write("\n")
for g, r in rows.items():
    print(f"{g}: optiscope {r['tokens_per_s'] or 0:,.0f} tok/s, peak {r['peak_gib'] or 0:.2f} GiB | "
          f"transformers {r['ref_tokens_per_s'] or 0:,.0f} tok/s, peak {r['ref_peak_gib'] or 0:.2f} GiB")
PY
if [[ -n ${OUT:-} ]]; then mkdir -p "$OUT" && cp "$out_json" "$OUT/"; fi
rm -rf "$tmp"
