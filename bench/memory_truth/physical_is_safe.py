#!/usr/bin/env python3
"""Exit 0 when a physical (ballast) run of OPTIM is safe to make, judged from its emulated run in
STORE: a variant without managed memory always is; a paged one only if its emulated run never had to
evict (its state fitted beside the allocator within the budget), so that with the card really
constrained its managed memory stays below the free memory. Says why on stdout.

usage: physical_is_safe.py STORE OPTIM"""
import sqlite3
import sys

store, optim = sys.argv[1], sys.argv[2]
if "paged" not in optim:
    print(f"{optim}: no managed memory, safe")
    sys.exit(0)
db = sqlite3.connect(f"file:{store}?mode=ro", uri=True)
row = db.execute(
    "SELECT r.outcome, COALESCE(SUM(p.manager_dtoh), 0), COUNT(p.step) FROM runs r "
    "LEFT JOIN paging_steps p ON p.run_id = r.id WHERE r.optim = ? GROUP BY r.id ORDER BY r.id DESC LIMIT 1",
    (optim,)).fetchone()
if row is None:
    print(f"{optim}: no emulated run in {store}: not safe to guess")
    sys.exit(1)
outcome, evicted, steps = row
if outcome == "oom" and steps == 0:
    print(f"{optim}: emulated run ran out of memory before any paged state existed, safe")
    sys.exit(0)
if evicted == 0 and outcome in ("completed", "over_budget"):
    print(f"{optim}: emulated run never evicted, its state fits beside the allocator, safe")
    sys.exit(0)
print(f"{optim}: emulated run evicted {evicted / 2**30:.2f} GiB: its managed state does not fit the budget, "
      "a physical run could over-subscribe managed memory: not cross-checked")
sys.exit(1)
