#!/usr/bin/env bash
# optiscope-cli as a user on a GPU server runs it: help, a short comparison, export, bad input.
set -euo pipefail
cli="$1"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

"$cli" --help | grep -q "exit codes" || fail "--help lacks the exit codes"
for c in run demo export list import; do "$cli" "$c" --help | grep -q "usage: optiscope-cli $c" || fail "$c --help"; done
"$cli" --version | grep -q "optiscope-cli" || fail "--version"

# A short two-variant comparison.
"$cli" run --preset tiny --optim adamw_torch,adamw_8bit --steps 12 --db "$work/a.db" --quiet > "$work/run.txt" \
  || fail "run exited $?"
grep -q "adamw_8bit" "$work/run.txt" || fail "run summary lacks adamw_8bit"
# Each loss is labelled by what it is, under the names the GUI's summary and report use.
head -2 "$work/run.txt" | grep -q "last step .*mean last 10 .*eval loss" || fail "run summary header: $(head -2 "$work/run.txt")"

"$cli" export --db "$work/a.db" --format csv --out "$work/a.csv"
head -1 "$work/a.csv" | grep -q "^run,comparison,optim,outcome,step,loss" || fail "CSV header: $(head -1 "$work/a.csv")"
rows=$(($(wc -l < "$work/a.csv") - 1))
[ "$rows" -eq 24 ] || fail "expected 24 CSV rows (2 variants x 12 steps), got $rows"
grep -q ",adamw_8bit,completed,12," "$work/a.csv" || fail "adamw_8bit step 12 missing"

"$cli" list --db "$work/a.db" | grep -q "adamw_torch .*loss: last step [0-9.]*, mean of last 10 [0-9.]*" || fail "list"

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

# Import: a Trainer state becomes a run beside ours; a bad one exits 2 and creates nothing.
cat > "$work/trainer_state.json" <<'JSON'
{"global_step": 12, "log_history": [
  {"learning_rate": 1e-3, "loss": 5.1, "step": 4}, {"learning_rate": 8e-4, "loss": 4.6, "step": 8},
  {"learning_rate": 6e-4, "loss": 4.2, "step": 12}, {"eval_loss": 4.4, "step": 12},
  {"step": 12, "train_runtime": 6.0}]}
JSON
"$cli" import --db "$work/a.db" --trainer-state "$work/trainer_state.json" --optim adamw_8bit > "$work/imp.txt" \
  || fail "import exited $?"
grep -q "3 logged steps" "$work/imp.txt" || fail "import summary: $(cat "$work/imp.txt")"
"$cli" list --db "$work/a.db" | grep -q "adamw_8bit .*completed .*steps 3 .*imported" || fail "imported run not listed"
"$cli" export --db "$work/a.db" --format csv --out "$work/all.csv"
[ $(($(wc -l < "$work/all.csv") - 1)) -eq 27 ] || fail "expected 24 + 3 CSV rows after the import"
echo '{"log_history": [' > "$work/bad.json"
set +e
"$cli" import --db "$work/e.db" --trainer-state "$work/bad.json" --optim adamw_8bit 2> "$work/err3.txt"; rc=$?
set -e
[ "$rc" -eq 2 ] || fail "a malformed trainer_state.json should exit 2, got $rc"
grep -q "not valid JSON" "$work/err3.txt" || fail "malformed JSON message: $(cat "$work/err3.txt")"
[ ! -e "$work/e.db" ] || fail "a refused import must not create the store"
set +e
"$cli" import --db "$work/a.db" --nsys-sqlite "$work/trainer_state.json" 2> "$work/err4.txt"; rc=$?
set -e
[ "$rc" -eq 2 ] || fail "a JSON file given as an Nsight export should exit 2, got $rc"
if command -v sqlite3 > /dev/null; then
  sqlite3 "$work/nsys.sqlite" "CREATE TABLE CUPTI_ACTIVITY_KIND_MEMCPY (start INTEGER NOT NULL, end INTEGER NOT NULL,
    bytes INTEGER NOT NULL, copyKind INTEGER NOT NULL, migrationCause INTEGER, virtualAddress INTEGER);
    INSERT INTO CUPTI_ACTIVITY_KIND_MEMCPY VALUES (100, 200, 2097152, 11, 2, 4096), (300, 400, 2097152, 12, 4, 4096);"
  "$cli" import --db "$work/a.db" --nsys-sqlite "$work/nsys.sqlite" --run 1 > "$work/imp2.txt" || fail "nsys import exited $?"
  grep -q "2 paging events" "$work/imp2.txt" || fail "nsys import summary: $(cat "$work/imp2.txt")"
fi
echo "cli end to end: ok"
