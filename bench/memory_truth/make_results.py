#!/usr/bin/env python3
"""bench/results/memory_truth.json from the stores and NVML samples of bench/results/memory_truth/.

One row per (model, optim, budget): outcome, peak measured demand, NVML's peak used memory while the
run went (nvidia-smi sampled every 100 ms, matched to the run's start and end), the driver's cache of
evicted pages, the largest ledger-vs-migrations disagreement, the emulated median step and, where a
physical (ballast) run of the same case exists, its outcome and median step.

usage: make_results.py RESULTS_DIR OUT_JSON --commit C --card TEXT --driver TEXT
         [--store-commit STORE=COMMIT ...] [--store-card STORE=TEXT ...]
Every row names its card: an emulated run and its physical cross-check are always from one call
on one card, but rows of different cases may come from different cards."""
import argparse
import datetime as dt
import glob
import json
import os
import re
import sqlite3
import statistics

GIB = float(1 << 30)


def nvml_samples(path):
    out = []
    if not os.path.exists(path):
        return out
    for line in open(path):
        m = re.match(r"(\d{4}/\d\d/\d\d \d\d:\d\d:\d\d\.\d+),\s*(\d+)", line)
        if m:
            t = dt.datetime.strptime(m.group(1), "%Y/%m/%d %H:%M:%S.%f")
            out.append((t, int(m.group(2)) * (1 << 20)))
    return out


def run_rows(db_path):
    db = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    rows = []
    for rid, optim, outcome, oom_step, ob_step, ob_bytes, started, finished, spec in db.execute(
            "SELECT id, optim, outcome, oom_step, over_budget_step, over_budget_bytes, started_at, "
            "COALESCE(finished_at, ''), spec_json FROM runs ORDER BY id"):
        demand = db.execute(
            "SELECT MAX(parameters + gradients + optimizer_device + activations + allocator_cache + "
            "optimizer_paged_resident + context), MAX(driver_cache), MAX(other_device) FROM memory_samples "
            "WHERE run_id = ?", (rid,)).fetchone()
        paging = db.execute(
            "SELECT MAX(ABS(measured_resident - ledger_resident) * 1.0 / MAX(ledger_resident, 1)), "
            "COUNT(measured_resident), SUM(manager_htod), SUM(manager_dtoh), SUM(recorded_htod), "
            "SUM(recorded_dtoh), MAX(measured_resident_peak) FROM paging_steps WHERE run_id = ?", (rid,)).fetchone()
        steps = [r[0] for r in db.execute("SELECT step_ms FROM steps WHERE run_id = ? ORDER BY step", (rid,))]
        budget = json.loads(spec).get("device_budget_bytes", 0) if spec.startswith("{") else 0
        # The first step carries one-off work (allocation, first touch, kernel loads): left out.
        timed = steps[1:] if len(steps) > 1 else steps
        rows.append(dict(id=rid, optim=optim, outcome=outcome, oom_step=oom_step, over_budget_step=ob_step,
                         over_budget_bytes=ob_bytes, started=started, finished=finished, budget=budget,
                         peak_demand=demand[0], driver_cache=demand[1], other=demand[2],
                         disagreement=paging[0] if paging[1] else None, measured_steps=paging[1],
                         moved=(paging[2] or 0) + (paging[3] or 0), recorded=(paging[4] or 0) + (paging[5] or 0),
                         steps=len(steps), median_ms=statistics.median(timed) if timed else None))
    return rows


def iso(t):
    return dt.datetime.strptime(t, "%Y-%m-%dT%H:%M:%SZ") if t else None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("results")
    ap.add_argument("out")
    ap.add_argument("--commit", required=True)
    ap.add_argument("--card", required=True)
    ap.add_argument("--driver", required=True)
    ap.add_argument("--store-commit", action="append", default=[],
                    help="STORE_BASENAME=COMMIT for stores recorded at another commit than --commit")
    ap.add_argument("--store-card", action="append", default=[],
                    help="STORE_BASENAME=CARD for stores recorded on another card than --card")
    a = ap.parse_args()
    commits = dict(x.split("=", 1) for x in a.store_commit)
    cards = dict(x.split("=", 1) for x in a.store_card)
    physical = {}
    for db in glob.glob(os.path.join(a.results, "physical-*.db")):
        name = os.path.basename(db)[len("physical-"):-len(".db")]
        for r in run_rows(db):
            physical[(name, r["optim"])] = r
    cases = []
    for db in sorted(glob.glob(os.path.join(a.results, "truth-*.db"))):
        base = os.path.basename(db)[len("truth-"):-len(".db")]
        # truth-<model>-<budget>g[-<tag>].db: a tag names a later or partial recording of the case.
        m = re.match(r"^(?P<model>.+)-(?P<budget>\d+g)(?:-(?P<tag>.+))?$", base)
        model, budget = m.group("model"), m.group("budget")
        name = f"{model}-{budget}"
        samples = nvml_samples(os.path.join(a.results, f"truth-{base}.nvml.csv"))
        for r in run_rows(db):
            start, end = iso(r["started"]), iso(r["finished"]) or (samples[-1][0] if samples else None)
            # Whole seconds only: the previous variant's memory is released in this one's first second.
            used = [u for t, u in samples if start and end and start + dt.timedelta(seconds=1) <= t <= end]
            p = physical.get((name, r["optim"]))
            row = dict(
                model=model, optim=r["optim"], budget_gib=int(budget.rstrip("g")),
                # A run whose writer is gone reads as interrupted (docs/store-schema.md).
                outcome="interrupted" if r["outcome"] == "running" else r["outcome"],
                over_budget_step=r["over_budget_step"],
                peak_demand_gib=round(r["peak_demand"] / GIB, 3) if r["peak_demand"] else None,
                nvml_peak_gib=round(max(used) / GIB, 3) if used else None,
                driver_cache_gib=round(r["driver_cache"] / GIB, 3) if r["driver_cache"] is not None else None,
                unexplained_other_gib=round(r["other"] / GIB, 3) if r["other"] is not None else None,
                ledger_vs_migrations_pct=round(r["disagreement"] * 100, 4) if r["disagreement"] is not None else None,
                paged_bytes_moved_gib=round(r["moved"] / GIB, 3),
                capture_completeness=round(r["recorded"] / r["moved"], 4) if r["moved"] else None,
                steps_recorded=r["steps"], emulated_ms=round(r["median_ms"], 1) if r["median_ms"] else None,
                physical_outcome=p["outcome"] if p else None,
                physical_ms=round(p["median_ms"], 1) if p and p["median_ms"] else None,
                physical_vs_emulated=round(p["median_ms"] / r["median_ms"] - 1, 4)
                if p and p["median_ms"] and r["median_ms"] else None,
                store=os.path.relpath(db, os.path.dirname(a.out)),
                card=cards.get(os.path.basename(db), a.card),
                recorded_at=commits.get(os.path.basename(db), a.commit),
                physical_recorded_at=commits.get(f"physical-{name}.db", a.commit) if p else None,
                _started=r["started"])
            if base.endswith("-partial"):
                row["note"] = ("stopped by the device call's time limit; categories recorded before the "
                               "driver-cache bound fix (593605b): 'other' holds the driver's cache")
            cases.append(row)
    # One row per case: a finished recording over one cut off by a call's time limit, and the latest
    # recording over earlier ones (a page-manager fix re-records the cases it changes).
    best = {}
    for c in cases:
        key = (c["model"], c["optim"], c["budget_gib"])
        rank = (c["outcome"] != "interrupted", c.pop("_started") or "")
        if key not in best or rank > best[key][0]:
            best[key] = (rank, c)
    keep = {id(c) for _, c in best.values()}
    cases = [c for c in cases if id(c) in keep]
    json.dump(dict(card=a.card, driver=a.driver, commit=a.commit,
                   command="bench/gpu/device_session.sh truth-<preset>-<budget>-<steps> physical-<preset>-<budget>-<steps>",
                   precision="bf16", batch="4 x 512", cases=cases), open(a.out, "w"), indent=1)
    print(f"{len(cases)} cases -> {a.out}")


if __name__ == "__main__":
    main()
