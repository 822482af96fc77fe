#!/usr/bin/env bash
# optiscope-cli as a user on a GPU server runs it: help, a short comparison, export, bad input.
set -euo pipefail
cli="$1"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

"$cli" --help | grep -q "exit codes" || fail "--help lacks the exit codes"
for c in run demo export list; do "$cli" "$c" --help | grep -q "usage: optiscope-cli $c" || fail "$c --help"; done
"$cli" --version | grep -q "optiscope-cli" || fail "--version"

# A short two-variant comparison.
"$cli" run --preset tiny --optim adamw_torch,adamw_8bit --steps 12 --db "$work/a.db" --quiet > "$work/run.txt" \
  || fail "run exited $?"
grep -q "adamw_8bit" "$work/run.txt" || fail "run summary lacks adamw_8bit"

"$cli" export --db "$work/a.db" --format csv --out "$work/a.csv"
head -1 "$work/a.csv" | grep -q "^run,comparison,optim,outcome,step,loss" || fail "CSV header: $(head -1 "$work/a.csv")"
rows=$(($(wc -l < "$work/a.csv") - 1))
[ "$rows" -eq 24 ] || fail "expected 24 CSV rows (2 variants x 12 steps), got $rows"
grep -q ",adamw_8bit,completed,12," "$work/a.csv" || fail "adamw_8bit step 12 missing"

"$cli" list --db "$work/a.db" | grep -q "adamw_torch" || fail "list"

# Bad input: usage errors exit 2 and leave files alone.
set +e
"$cli" run --preset tiny --optim not_an_optimizer --steps 2 --db "$work/b.db" 2> "$work/err.txt"; rc=$?
set -e
[ "$rc" -eq 2 ] || fail "unknown optimizer should exit 2, got $rc"
grep -q "unknown optimizer" "$work/err.txt" || fail "unknown optimizer message: $(cat "$work/err.txt")"
[ ! -e "$work/b.db" ] || fail "a rejected run must not create the store"

echo "not a database at all" > "$work/c.db"
cp "$work/c.db" "$work/c.orig"
set +e
"$cli" export --db "$work/c.db" --format csv --out "$work/c.csv" 2> "$work/err2.txt"; rc=$?
set -e
[ "$rc" -eq 2 ] || fail "a non-store file should exit 2, got $rc"
cmp -s "$work/c.db" "$work/c.orig" || fail "a rejected file was modified"
[ ! -e "$work/c.csv" ] || fail "no CSV may be written from a bad store"

set +e
"$cli" run --preset tiny --steps 0 --db "$work/d.db" 2>/dev/null; rc=$?
set -e
[ "$rc" -eq 2 ] || fail "--steps 0 should exit 2, got $rc"
echo "cli end to end: ok"
