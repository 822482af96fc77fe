#!/usr/bin/env bash
# Keeps the CLI documentation honest. Every block of docs/cli.md that follows a marker
#   <!-- help: optiscope-cli ARGS -->
# must be exactly what `optiscope-cli ARGS` prints, and the manual page docs/man/optiscope-cli.1 must
# name every command and option that --help lists.
#
#   docs/tools/check-cli-docs.sh BUILD/app/cli/optiscope-cli           check (a ctest runs this)
#   docs/tools/check-cli-docs.sh --write BUILD/app/cli/optiscope-cli   refresh docs/cli.md
set -euo pipefail
mode=check
if [ "${1:-}" = "--write" ]; then mode=write; shift; fi
cli=${1:?usage: check-cli-docs.sh [--write] PATH/TO/optiscope-cli}
docs=$(cd "$(dirname "$0")/.." && pwd)
md="$docs/cli.md"
man="$docs/man/optiscope-cli.1"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# docs/cli.md with every help block replaced by the binary's output.
fresh="$tmp/cli.md"
: > "$fresh"
pending=""
in_block=0
blocks=0
while IFS= read -r line || [ -n "$line" ]; do
  if [ "$in_block" = 1 ]; then
    if [ "$line" = '```' ]; then in_block=0; printf '%s\n' "$line" >> "$fresh"; fi
    continue
  fi
  printf '%s\n' "$line" >> "$fresh"
  if [[ "$line" =~ ^'<!-- help: optiscope-cli'(.*)' -->'$ ]]; then
    pending="${BASH_REMATCH[1]}"
    [ -n "$pending" ] || { echo "check-cli-docs: a help marker names no arguments" >&2; exit 1; }
    continue
  fi
  if [ -n "$pending" ]; then
    [ "$line" = '```text' ] || { echo "check-cli-docs: a help marker must be followed by a \`\`\`text block" >&2; exit 1; }
    # Word splitting of the marker's arguments is intended.
    # shellcheck disable=SC2086
    "$cli" $pending >> "$fresh"
    in_block=1
    pending=""
    blocks=$((blocks + 1))
  fi
done < "$md"
[ "$blocks" -gt 0 ] || { echo "check-cli-docs: no help blocks found in $md" >&2; exit 1; }

status=0
if ! diff -u "$md" "$fresh" > "$tmp/diff"; then
  if [ "$mode" = write ]; then
    cp "$fresh" "$md"
    echo "check-cli-docs: refreshed $blocks help blocks in $md"
  else
    cat "$tmp/diff"
    echo "check-cli-docs: docs/cli.md no longer matches the binary's --help;" \
         "run docs/tools/check-cli-docs.sh --write $cli" >&2
    status=1
  fi
fi

# The manual page: every command and every option of every --help, as troff writes them (\-\-db).
commands=$("$cli" --help | awk '/^commands:/{on=1; next} /^$/{on=0} on && NF {print $1}')
words=$( { "$cli" --help; for c in $commands; do "$cli" "$c" --help; done; } | grep -oE -- '--[a-z][a-z-]*' | sort -u)
for c in $commands; do
  grep -qE "^\.B $c\$" "$man" || { echo "check-cli-docs: $man does not describe the command '$c'" >&2; status=1; }
done
for w in $words; do
  troff=${w//-/\\-}
  grep -qF -- "$troff" "$man" || { echo "check-cli-docs: $man does not mention $w" >&2; status=1; }
done
[ "$status" = 0 ] && [ "$mode" = check ] && echo "check-cli-docs: docs/cli.md ($blocks blocks) and the manual page match --help"
exit "$status"
