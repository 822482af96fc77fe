#!/usr/bin/env bash
# Every C, C++ and CUDA source the project tracks is laid out as .clang-format says. Skips (exit
# 77, with the reason) where git or the pinned clang-format is missing: another major version
# lays some lines out differently, and a style check must not fail on a tool's taste. Fix with:
#   git ls-files '*.cpp' '*.h' '*.cu' '*.c' | xargs clang-format -i
set -uo pipefail
root=${1:?usage: check_format.sh SOURCE_DIR}
pinned=14  # Debian bookworm's clang-format, which installer/setup.sh installs
cd "$root" || exit 1
command -v clang-format > /dev/null || { echo "SKIPPED: clang-format is not installed"; exit 77; }
major=$(clang-format --version | sed -n 's/.*version \([0-9]*\).*/\1/p')
[ "$major" = "$pinned" ] || { echo "SKIPPED: clang-format $major here; the layout is pinned to $pinned"; exit 77; }
git rev-parse --is-inside-work-tree > /dev/null 2>&1 || { echo "SKIPPED: $root is not a git checkout"; exit 77; }
mapfile -t files < <(git ls-files '*.cpp' '*.h' '*.cu' '*.c')
[ "${#files[@]}" -gt 0 ] || { echo "no sources found under $root"; exit 1; }
bad=$(clang-format --dry-run "${files[@]}" 2>&1 | grep -E '^[^ ].*: (warning|error):' | cut -d: -f1 | sort -u)
if [ -n "$bad" ]; then
  echo "not clang-formatted ($(echo "$bad" | wc -l) of ${#files[@]} files):"
  echo "$bad"
  exit 1
fi
echo "${#files[@]} files clang-formatted (clang-format $major)"
