"""B-committee: what a model committee costs beside a single model, on one small campaign.

Three ``mvflows run`` of one campaign (default ``workflows/smoke.yaml``, 2 pairs):

1. the campaign on its own model, into an empty store;
2. the same campaign with ``calculator.committee`` (default: ``default``, three models), into
   the same store: the headline member's jobs are reused, the others' run;
3. the committee again into an empty store: everything runs.

Each records the run's wall time and its jobs run and reused (the run's ``timings.json``).

    python -m benchmarks.committee [--campaign workflows/smoke.yaml] [--committee default|a,b,...]
        [--jobs N] -> benchmarks/results/committee.json
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from benchmarks.common import machine, write_result

CLI = [sys.executable, "-c", "from mvflows.cli import main; main()"]


def run(campaign: Path, store: Path, jobs: int | None) -> dict:
    cmd = [*CLI, "run", str(campaign), "--store", str(store), "--no-progress"]
    cmd += ["--jobs", str(jobs)] if jobs else []
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    timings = json.loads((store / "work" / "timings.json").read_text())
    summary = [line for line in proc.stderr.splitlines() if "jobs:" in line]
    return {
        "exit_code": proc.returncode,
        "process_wall_s": wall,
        "run_wall_s": timings["wall_s"],
        "jobs_run": timings["ran"],
        "jobs_reused": timings["reused"],
        "job_seconds": sum(s for _name, s in timings["jobs"]),
        "summary": summary[-1] if summary else proc.stderr[-500:],
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--campaign", default="workflows/smoke.yaml")
    p.add_argument("--committee", default="default", help="default, or member names separated by commas")
    p.add_argument("--jobs", type=int, default=None, help="jobs at once (default: mvflows run's own)")
    p.add_argument("--out", default="committee.json")
    args = p.parse_args()
    data = yaml.safe_load(Path(args.campaign).read_text())
    committee = args.committee if args.committee == "default" else args.committee.split(",")
    with tempfile.TemporaryDirectory(prefix="mvflows-committee-") as tmp:
        d = Path(tmp)
        single = d / "single.yaml"
        single.write_text(yaml.safe_dump(data))
        data["calculator"] = {**(data.get("calculator") or {}), "committee": committee}
        both = d / "committee.yaml"
        both.write_text(yaml.safe_dump(data))
        out = {"benchmark": "B-committee: a committee's extra cost", "campaign": args.campaign}
        out["committee"] = committee
        for key, campaign, store in (
            ("single_model_empty_store", single, d / "shared"),
            ("committee_after_single_model", both, d / "shared"),
            ("committee_empty_store", both, d / "fresh"),
        ):
            print(f"{key}: mvflows run {campaign.name} --store {store.name} ...", flush=True)
            out[key] = run(campaign, store, args.jobs)
            print(json.dumps(out[key]), flush=True)
    write_result(args.out, {**out, **machine()})


if __name__ == "__main__":
    main()
