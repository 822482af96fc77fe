#!/usr/bin/env bash
# GUI benchmark: builds the large store (4 runs x 100k steps, 1M unified-memory events) if missing,
# times open-to-first-chart and panning under Xvfb, and writes bench/results/gui.json.
#   bench/gui/run_gui_bench.sh [BUILD_DIR]
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-$root/build-ui}
bin=$build/bench/gui
store=${OPTISCOPE_GUI_BENCH_STORE:-/tmp/optiscope-gui-bench.db}
[ -f "$store" ] || "$bin/optiscope_gui_bench_store" "$store" 100000 1000000
# Warm the page cache once so the number is the program's, not the disk's.
cat "$store" > /dev/null
cmd="xvfb-run -a -s '-screen 0 1920x1080x24' $bin/optiscope_gui_bench $store 120"
result=$(eval "$cmd" 2>/dev/null | tail -1)
echo "$result"
python3 - "$root/bench/results/gui.json" "$result" "$cmd" <<'PY'
import json, platform, subprocess, sys, os
out, result, cmd = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3]
cpu = next((l.split(':', 1)[1].strip() for l in open('/proc/cpuinfo') if l.startswith('model name')), platform.processor())
commit = subprocess.run(['git', 'rev-parse', '--short', 'HEAD'], capture_output=True, text=True,
                        cwd=os.path.dirname(out)).stdout.strip()
doc = {
    'machine': f'{cpu}, {os.cpu_count()} cores (shared with other builds), Xvfb 1920x1080x24',
    'commit': commit,
    'command': cmd,
    'store': '4 runs x 100000 steps (steps, memory by category, paging), 1000000 um_events',
    'open_s': result['open_s'],
    'pan_fps': result['pan_fps'],
    'goals': {'open_s': '< 1.0', 'pan_fps': '>= 30'},
    'points_per_curve': result['points'],
}
json.dump(doc, open(out, 'w'), indent=2)
print(json.dumps(doc, indent=2))
PY
