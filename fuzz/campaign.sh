#!/usr/bin/env bash
# A fuzzing campaign of one target, recorded in bench/results/fuzz.json (target, executions,
# duration, findings, machine, commit, command). Needs the fuzz preset built:
#   cmake --preset fuzz && cmake --build --preset fuzz
#   fuzz/campaign.sh store_reader 600
# The working corpus stays in build/fuzz/fuzz/campaign/<target>; the committed seeds are only read.
# Runs one process (-jobs 0): the development machines have two cores shared by several people.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
target=$1
seconds=${2:-600}
build=${FUZZ_BUILD:-$root/build/fuzz}
fuzzer=$build/fuzz/fuzz_$target
[ -x "$fuzzer" ] || { echo "no $fuzzer: build the fuzz preset first" >&2; exit 2; }
work=$build/fuzz/campaign/$target
mkdir -p "$work/corpus" "$work/artifacts"
dict=()
[ -f "$root/fuzz/dict/$target.dict" ] && dict=(-dict="$root/fuzz/dict/$target.dict")
cmd=("$fuzzer" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=65536 -print_final_stats=1
     -artifact_prefix="$work/artifacts/" "${dict[@]}" "$work/corpus" "$root/fuzz/corpus/$target")
log=$work/campaign.log
# The commit the fuzzer was built from is what the record is about: taken now, not when it ends.
commit=$(git -C "$root" rev-parse --short HEAD)
if [ -n "$(git -C "$root" status --porcelain -- core fuzz/*.cpp fuzz/*.h)" ]; then
  commit="$commit (with uncommitted changes under core/ or fuzz/)"
fi
start=$(date +%s)
set +e
ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1} UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1} \
  "${cmd[@]}" > "$log" 2>&1
rc=$?
set -e
end=$(date +%s)
# Two campaigns may end together: the record is read, changed and written under a lock.
exec 9> "$build/fuzz/campaign/.lock"
flock 9
python3 - "$root" "$target" "$rc" "$((end - start))" "$log" "$work" "${cmd[*]}" "$commit" <<'PY'
import json, os, re, sys, platform, datetime
root, target, rc, wall, log, work, cmd, commit = sys.argv[1:]
text = open(log, errors="replace").read()
def stat(name):
    m = re.findall(r"stat::%s:\s*(\d+)" % name, text)
    return int(m[-1]) if m else None
artifacts = sorted(os.listdir(os.path.join(work, "artifacts")))
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), platform.processor())
corpus = os.path.join(work, "corpus")
record = {
    "target": target,
    "executions": stat("number_of_executed_units"),
    "execs_per_s": stat("average_exec_per_sec"),
    "duration_s": int(wall),
    "findings": len(artifacts),
    "finding_files": artifacts,
    "exit_code": int(rc),
    "new_units": stat("new_units_added"),
    "corpus_files": len(os.listdir(corpus)),
    "peak_rss_mb": stat("peak_rss_mb"),
    "machine": f"{cpu}, {os.cpu_count()} cores, shared with parallel builds; clang-14 libFuzzer + ASan + UBSan",
    "commit": commit,
    "date": datetime.date.today().isoformat(),
    "command": cmd.replace(root + "/", ""),
}
path = os.path.join(root, "bench", "results", "fuzz.json")
data = json.load(open(path)) if os.path.exists(path) else {"issue": 8, "campaigns": []}
data["campaigns"] = [c for c in data["campaigns"] if c["target"] != target] + [record]
data["campaigns"].sort(key=lambda c: c["target"])
with open(path, "w") as f:
    json.dump(data, f, indent=2)
    f.write("\n")
print(json.dumps(record, indent=2))
PY
exit "$rc"
