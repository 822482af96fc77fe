#!/usr/bin/env bash
# Screenshots of every tab for the user guide (docs/images/), under Xvfb, from a store given on
# the command line (e.g. the lead's GPU recording) or the sample store the GUI tests use.
#   bench/gui/take_screenshots.sh [BUILD_DIR] [STORE]
# SCHEME=dark takes them with `optiscope --dark` into docs/images/dark/ (the report is always light).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-$root/build-ui}
store=${2:-}
if [ -z "$store" ]; then
  store=/tmp/optiscope-screenshots.db
  "$build/bench/gui/optiscope_gui_sample_store" "$store"
fi
out=$root/docs/images
dark=()
if [ "${SCHEME:-light}" = dark ]; then
  out=$root/docs/images/dark
  dark=(--dark)
fi
mkdir -p "$out"
names=(learning-curves memory paging time summary calculator)
for i in "${!names[@]}"; do
  # A fresh settings file each time: the picture must not depend on what the last run left.
  XDG_CONFIG_HOME=$(mktemp -d) xvfb-run -a -s "-screen 0 1600x1000x24" \
    "$build/app/gui/optiscope" "$store" "${dark[@]}" --tab "$i" --screenshot "$out/tab-${names[$i]}.png" --quit-after-ms 2500
  echo "$out/tab-${names[$i]}.png"
done
[ "${SCHEME:-light}" = dark ] && exit 0
QT_QPA_PLATFORM=offscreen "$build/app/gui/optiscope" "$store" --export-charts /tmp/optiscope-screenshot-charts
cp /tmp/optiscope-screenshot-charts/report.png "$out/report.png"
echo "$out/report.png"
