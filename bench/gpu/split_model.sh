#!/usr/bin/env bash
# Cuts a model file into parts small enough for one device call each (the device machine takes
# about 30 MB of carried files per call): .gm1/, .gm2/, ... (git-ignored), each holding one part,
# and .gm1/SHA256 with the whole file's checksum. device_session.sh's smollm2 step puts them back
# together and checks the sum. Usage: bench/gpu/split_model.sh [MODEL_FILE] [PART_MB]
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
model=${1:-$root/.deps/models/SmolLM2-135M-Instruct.Q4_1.gguf}
part_mb=${2:-25}
[ -f "$model" ] || { echo "split_model: no $model (installer/setup.sh fetches it)" >&2; exit 1; }
rm -rf "$root"/.gm[0-9]*
tmp=$(mktemp -d)
split -b "${part_mb}M" -d -a 1 "$model" "$tmp/part"
n=0
for p in "$tmp"/part*; do
  n=$((n + 1))
  mkdir -p "$root/.gm$n"
  mv "$p" "$root/.gm$n/$(basename "$model").part$n"
done
rmdir "$tmp"
(cd "$(dirname "$model")" && sha256sum "$(basename "$model")") > "$root/.gm1/SHA256"
echo "$n" > "$root/.gm1/PARTS"
for d in "$root"/.gm[0-9]*; do echo "$(basename "$d"): $(du -b "$d" | cut -f1) bytes"; done
echo "carry them one per device call, in order: $(cd "$root" && ls -d .gm[0-9]* | tr '\n' ' ')"
