#!/usr/bin/env bash
# Sets up, builds and runs Optiscope's built-in default comparison (tiny Llama-style model,
# adamw_torch vs adamw_8bit). On a desktop the GUI opens and runs it live; with no display the
# same comparison runs headless and the store and charts land in out/demo/.
set -euo pipefail
root=$(cd "$(dirname "$0")" && pwd)
"$root/installer/build.sh" default
out="$root/out/demo"
mkdir -p "$out"
gui="$root/build/default/app/gui/optiscope"
cli="$root/build/default/app/cli/optiscope-cli"
if [ -n "${DISPLAY:-}${WAYLAND_DISPLAY:-}" ] && [ -x "$gui" ]; then
  exec "$gui" --new-default "$out/demo.db"
fi
echo "demo: no display, running headless"
rm -f "$out/demo.db" "$out/demo.db-wal" "$out/demo.db-shm"
"$cli" demo --db "$out/demo.db"
"$cli" export --db "$out/demo.db" --format csv --out "$out/demo.csv"
if [ -x "$gui" ]; then
  QT_QPA_PLATFORM=offscreen "$gui" "$out/demo.db" --export-charts "$out" 2>/dev/null \
    || QT_QPA_PLATFORM=offscreen "$gui" "$out/demo.db" --screenshot "$out/window.png" --quit-after-ms 3000 2>/dev/null
fi
echo "demo: store, CSV and charts in $out:"
ls -1 "$out"
