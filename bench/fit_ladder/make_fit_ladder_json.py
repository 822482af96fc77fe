#!/usr/bin/env python3
"""Turns recorded fit-ladder stores into bench/results/fit_ladder.json and charts.

    bench/fit_ladder/make_fit_ladder_json.py --cli build/default/app/cli/optiscope-cli \\
        [--gui build/default/app/gui/optiscope] [--loss-step 8] [--out bench/results/fit_ladder.json] \\
        STORE.db [STORE.db ...]

For every store, `optiscope-cli export --format ladder-json` gives each ladder's rungs (rung,
outcome with the measured-demand verdict, peak demand by category, median step ms, loss after
N steps); they are gathered into one JSON file with the commit and the date. With --gui, the
GUI's --export-charts renders each store's charts (ladder-memory, ladder-step-time, ... and the
report) into bench/results/fit_ladder/<store name>/.
"""
import argparse
import datetime
import json
import os
import subprocess
import sys


def ladder_json(cli, store, loss_step):
    cmd = [cli, "export", "--db", store, "--format", "ladder-json", "--out", "-"]
    if loss_step:
        cmd += ["--loss-step", str(loss_step)]
    return json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout)


def commit():
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], check=True, capture_output=True,
                              text=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--cli", required=True, help="optiscope-cli binary")
    p.add_argument("--gui", help="optiscope binary: also export each store's charts")
    p.add_argument("--loss-step", type=int, default=0, help="report the loss after this step (0: last step)")
    p.add_argument("--out", default="bench/results/fit_ladder.json")
    p.add_argument("stores", nargs="+")
    a = p.parse_args()
    ladders = []
    for store in a.stores:
        for ladder in ladder_json(a.cli, store, a.loss_step):
            ladder["store"] = os.path.basename(store)
            last = ladder["rungs"][-1] if ladder["rungs"] else None
            ladder["last_rung_fits"] = bool(last) and last["outcome"] == "fits"
            ladders.append(ladder)
        if a.gui:
            charts = os.path.join(os.path.dirname(a.out), "fit_ladder", os.path.splitext(os.path.basename(store))[0])
            env = dict(os.environ, QT_QPA_PLATFORM=os.environ.get("QT_QPA_PLATFORM", "offscreen"))
            subprocess.run([a.gui, store, "--export-charts", charts], check=True, env=env)
    result = {
        "what": "fit ladder: one run per rung, each adding a memory trick; a rung fits only if its measured "
                "peak demand (allocator reserved + paged state resident + context) stays within the budget",
        "commit": commit(),
        "made_at": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "loss_step": a.loss_step or "last",
        "ladders": ladders,
    }
    os.makedirs(os.path.dirname(os.path.abspath(a.out)), exist_ok=True)
    with open(a.out + ".partial", "w") as f:
        json.dump(result, f, indent=2)
        f.write("\n")
    os.replace(a.out + ".partial", a.out)
    for l in ladders:
        print(f"{l['ladder']} ({l['store']}, {l['device']}): budget {l['budget_bytes'] / 2**30:.2f} GiB")
        for r in l["rungs"]:
            loss = r["loss_after_steps"]["loss"] if r["loss_after_steps"] else None
            print(f"  {r['rung']:<28} {r['outcome']:<12} {r['peak_demand_bytes'] / 2**30:7.2f} GiB "
                  f"{r['median_step_ms']:9.1f} ms  loss {loss if loss is not None else '-'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
