#!/usr/bin/env bash
# optiscope-cli sweep on the CPU: 2 workers and 4 runs, one comparison made to fail at run time; a
# worker killed by a signal mid-run; Ctrl-C to the sweep. Each time the target store must open, hold
# every recorded run's steps and pass SQLite's integrity check.
set -euo pipefail
cli="$1"
work=$(mktemp -d)
sweep_pid=""
cleanup() {
  [ -n "$sweep_pid" ] && kill -9 "$sweep_pid" 2> /dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
fail() {
  echo "FAIL: $*" >&2
  for f in "$work"/*.err; do [ -e "$f" ] && { echo "--- $f" >&2; cat "$f" >&2; }; done
  exit 1
}
q() { sqlite3 "$1" "$2"; }
valid_store() {  # store: opens, integrity ok, no run left running
  [ "$(q "$1" 'PRAGMA integrity_check')" = "ok" ] || fail "$1 fails the integrity check"
  [ "$(q "$1" 'PRAGMA foreign_key_check' | wc -l)" -eq 0 ] || fail "$1 has dangling references"
  "$cli" list --db "$1" > /dev/null || fail "list cannot read $1"
  [ "$(q "$1" "SELECT count(*) FROM runs WHERE outcome = 'running'")" -eq 0 ] || fail "a run in $1 is left running"
}
start=$(date +%s)

"$cli" sweep --help | grep -q "usage: optiscope-cli sweep" || fail "sweep --help"
"$cli" --help | grep -q "sweep" || fail "the top-level help lacks sweep"

# 1. Four runs on two workers, one of which fails at run time: the JSONL file has no "body" field,
#    which the engine finds when it loads the data (the synthetic data has no fields to miss).
for i in $(seq 1 40); do echo "{\"text\": \"Document $i: the quick brown fox jumps over the lazy dog, again and again.\"}"; done \
  > "$work/docs.jsonl"
cat > "$work/grid.json" << JSON
{"name": "e2e", "model": "tiny", "max_steps": 3, "per_device_train_batch_size": 2, "max_seq_length": 32,
 "dataset": ["synthetic", "$work/docs.jsonl"], "dataset_text_field": ["text", "body"]}
JSON
set +e
"$cli" sweep --spec "$work/grid.json" --store "$work/grid.db" --workers 2 > "$work/grid.out" 2> "$work/grid.err"
rc=$?
set -e
[ "$rc" -eq 3 ] || fail "a sweep with a failed run should exit 3, got $rc"
valid_store "$work/grid.db"
[ "$(q "$work/grid.db" 'SELECT count(*) FROM runs')" -eq 4 ] || fail "expected 4 runs"
[ "$(q "$work/grid.db" 'SELECT count(*) FROM comparisons')" -eq 4 ] || fail "expected 4 comparisons"
[ "$(q "$work/grid.db" "SELECT count(*) FROM runs WHERE outcome = 'completed'")" -eq 3 ] || fail "3 completed runs"
[ "$(q "$work/grid.db" "SELECT count(*) FROM comparisons c JOIN runs r ON r.comparison_id = c.id
     WHERE c.name = 'e2e dataset=$work/docs.jsonl dataset_text_field=body' AND r.outcome = 'failed'
     AND r.outcome_detail LIKE '%has no \"body\" field%'")" -eq 1 ] || fail "the failed run and its engine message"
[ "$(q "$work/grid.db" "SELECT count(*) FROM steps s JOIN runs r ON r.id = s.run_id WHERE r.outcome = 'completed'")" \
  -eq 9 ] || fail "every completed run's 3 steps"
[ "$(q "$work/grid.db" "SELECT count(DISTINCT run_id) FROM memory_samples")" -eq 3 ] || fail "memory samples"
grep -q "^\[1/4\] start: adamw_torch dataset=synthetic dataset_text_field=text on cpu (worker 1, pid [0-9]*)$" \
  "$work/grid.err" || fail "start line"
grep -q "^\[4/4\] done: adamw_torch dataset=.* on cpu .* failed, [0-9.]* s: .*has no \"body\" field" "$work/grid.err" \
  || fail "done line"
grep -q "on 2 worker(s) (cpu), [0-9]* thread(s) each" "$work/grid.err" || fail "threads per worker"
ls "$work" | grep -q "sweep-" && fail "the work folder was left behind"
grep -q "4 of 4 runs recorded" "$work/grid.out" || fail "summary"

# Bad input: a bad grid point is named, exits 2 and writes nothing.
echo '{"learning_rate": [0.001, -1], "seed": [1, 2]}' > "$work/bad.json"
set +e
"$cli" sweep --spec "$work/bad.json" --store "$work/bad.db" --workers 2 2> "$work/bad.err"; rc=$?
set -e
[ "$rc" -eq 2 ] || fail "a bad grid point should exit 2, got $rc"
grep -q "sweep point 3 of 4 (adamw_torch lr=-1 seed=1)" "$work/bad.err" || fail "bad point message"
[ ! -e "$work/bad.db" ] || fail "a refused sweep must not create the store"
echo '{"nproc_per_node": 2, "zero_stage": 1}' > "$work/ranks.json"
set +e
"$cli" sweep --spec "$work/ranks.json" --store "$work/bad.db" 2> "$work/ranks.err"; rc=$?
set -e
[ "$rc" -eq 2 ] && grep -q "not supported in a sweep" "$work/ranks.err" || fail "nproc_per_node in a sweep"
# What run refuses before it starts is refused for the whole sweep: a sequence beyond the model's positions.
echo '{"model": "tiny", "max_seq_length": [32, 1024]}' > "$work/long.json"
set +e
"$cli" sweep --spec "$work/long.json" --store "$work/bad.db" --workers 2 2> "$work/long.err"; rc=$?
set -e
[ "$rc" -eq 2 ] || fail "a sequence beyond the positions should exit 2, got $rc"
grep -q "sweep point 2 of 2 (adamw_torch seq_len=1024): max_seq_length 1024 is longer" "$work/long.err" || fail "long"
[ ! -e "$work/bad.db" ] || fail "a refused sweep must not create the store"

# Waits until the sweep's worker store for run N holds a step (the work folder is known).
wait_for_step() {
  local db="$1/run-$2.db"
  for _ in $(seq 1 600); do
    if [ -e "$db" ] && [ "$(sqlite3 "$db" 'SELECT COALESCE(MAX(step), 0) FROM steps' 2> /dev/null || echo 0)" -ge 1 ]; then
      return 0
    fi
    sleep 0.1
  done
  fail "run $2 never wrote a step"
}

# 2. A worker killed by SIGKILL mid-run: its run is recorded as failed, with the steps it wrote; the
#    other runs complete (the long one on the other worker, the short ones on the killed worker's slot).
cat > "$work/kill.json" << 'JSON'
{"name": "kill", "model": "tiny", "per_device_train_batch_size": 2, "max_seq_length": 32,
 "max_steps": [80, 3], "optim": ["adamw_torch", "adamw_8bit"]}
JSON
"$cli" sweep --spec "$work/kill.json" --store "$work/kill.db" --workers 2 --work-dir "$work/kw" \
  > "$work/kill.out" 2> "$work/kill.err" &
sweep_pid=$!
wait_for_step "$work/kw" 1
victim=$(sed -n 's/^\[1\/4\] start: .*pid \([0-9]*\))$/\1/p' "$work/kill.err")
[ -n "$victim" ] || fail "no pid for run 1"
kill -9 "$victim"
set +e
wait "$sweep_pid"; rc=$?
set -e
sweep_pid=""
[ "$rc" -eq 3 ] || fail "a sweep with a killed worker should exit 3, got $rc"
valid_store "$work/kill.db"
[ "$(q "$work/kill.db" 'SELECT count(*) FROM runs')" -eq 4 ] || fail "every run recorded"
[ "$(q "$work/kill.db" "SELECT outcome FROM runs WHERE optim = 'adamw_torch' AND spec_json LIKE '%\"max_steps\": 80%'")" \
  = "failed" ] || fail "the killed run is not failed"
detail=$(q "$work/kill.db" "SELECT outcome_detail FROM runs WHERE outcome = 'failed'")
echo "$detail" | grep -q "^worker 1 (cpu) ended by signal 9 (SIGKILL) during step [0-9]*$" || fail "detail: $detail"
[ "$(q "$work/kill.db" "SELECT count(*) FROM steps s JOIN runs r ON r.id = s.run_id WHERE r.outcome = 'failed'")" -ge 1 ] \
  || fail "the killed run's steps were not kept"
[ "$(q "$work/kill.db" "SELECT count(*) FROM runs WHERE outcome = 'completed'")" -eq 3 ] || fail "the other 3 complete"
[ "$(q "$work/kill.db" "SELECT count(*) FROM steps s JOIN runs r ON r.id = s.run_id WHERE r.optim = 'adamw_8bit'
     AND r.spec_json LIKE '%\"max_steps\": 80%'")" -eq 80 ] || fail "the other long run's 80 steps"
grep -q "4 of 4 runs recorded" "$work/kill.out" || fail "summary after the kill"

# 3. Ctrl-C while two runs are under way and two wait: 130, the two recorded as cancelled with their
#    steps, the two queued not recorded at all.
cat > "$work/int.json" << 'JSON'
{"name": "int", "model": "tiny", "per_device_train_batch_size": 2, "max_seq_length": 32, "max_steps": 2000,
 "seed": [1, 2], "optim": ["adamw_torch", "adamw_8bit"]}
JSON
"$cli" sweep --spec "$work/int.json" --store "$work/int.db" --workers 2 --work-dir "$work/iw" --status-every 0.5 \
  > "$work/int.out" 2> "$work/int.err" &
sweep_pid=$!
wait_for_step "$work/iw" 1
wait_for_step "$work/iw" 2
sleep 0.6
kill -INT "$sweep_pid"
set +e
wait "$sweep_pid"; rc=$?
set -e
sweep_pid=""
[ "$rc" -eq 130 ] || fail "Ctrl-C should exit 130, got $rc"
valid_store "$work/int.db"
[ "$(q "$work/int.db" "SELECT count(*) FROM runs WHERE outcome = 'cancelled'")" -eq 2 ] || fail "2 cancelled runs"
[ "$(q "$work/int.db" 'SELECT count(*) FROM runs')" -eq 2 ] || fail "queued runs must not be recorded"
[ "$(q "$work/int.db" 'SELECT count(DISTINCT run_id) FROM steps')" -eq 2 ] || fail "the cancelled runs' steps"
grep -q "^sweep: 0/4 done, 2 running (worker 1 adamw_torch seed=1: step [0-9]*/2000; worker 2 adamw_8bit seed=1: " \
  "$work/int.err" || fail "status line"
grep -q "2 of 4 runs recorded" "$work/int.out" || fail "summary after Ctrl-C"
[ ! -e "$work/iw" ] || fail "the work folder was left behind"

echo "sweep end to end: ok ($(($(date +%s) - start)) s)"
