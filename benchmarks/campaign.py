"""B-campaign: wall time of a whole campaign (default: spinel21.yaml), per job type.

Runs ``mvflows run CAMPAIGN`` in a fresh embedded store (nothing reused) as a user
would, then reads the per-job wall times the run leaves in ``WORK/timings.json``.

    python -m benchmarks.campaign [--campaign workflows/spinel21.yaml] [--store DIR]
        -> benchmarks/results/campaign.json
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

from benchmarks.common import machine, write_result

# job name -> type, first match wins (names as mvflows gives them)
JOB_TYPES = [
    ("neb_endpoint_relax", ("NEB start", "NEB end")),
    # the plausibility check's relax of the ion held on the hop's intermediate void
    ("neb_intermediate_relax", ("NEB intermediate",)),
    ("neb_other", ("NEB images", "NEB summary", "NEB screen")),
    ("relax", ("relax",)),
    ("site", ("site energy",)),
    ("voltage", ("voltage",)),
]


def job_type(name: str) -> str:
    if name == "neb" or name.startswith("neb "):
        return "neb_band"
    for kind, needles in JOB_TYPES:
        if any(n in name for n in needles):
            return kind
    return "other"


def per_job_type(jobs: list[tuple[str, float]]) -> dict[str, dict]:
    """Jobs and job-seconds per :func:`job_type`, from a run's ``timings.json`` ``jobs``."""
    per_type: dict[str, dict] = defaultdict(lambda: {"jobs": 0, "s": 0.0})
    for name, seconds in jobs:
        t = per_type[job_type(name)]
        t["jobs"] += 1
        t["s"] += seconds
    return dict(per_type)


def sevennet_call_s(calls: int = 6) -> float:
    """Median seconds of one eager SevenNet-0 call, 97 atoms, one thread: how fast the machine is now.

    Shared VMs change speed by a quarter from one hour to the next; measured just before and
    after a run, this tells a slow machine from a slow run.
    """
    import statistics

    import numpy as np
    import torch

    from benchmarks.model_speed import call_seconds, supercell
    from mvflows import model_compile
    from mvflows.models import load_calculator

    torch.set_num_threads(1)
    with model_compile.eager():
        calc = load_calculator("SevenNet", {"model": "7net-0"})
    return round(statistics.median(call_seconds(calc, supercell(), calls, np.random.default_rng(0))), 3)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--campaign", default="workflows/spinel21.yaml")
    p.add_argument("--store", default=None, help="store directory (default: a fresh temporary one)")
    p.add_argument("--model", default=None)
    p.add_argument("--out", default="campaign.json")
    p.add_argument("--jobs", type=int, default=None, help="jobs at once (default: mvflows run's own default)")
    p.add_argument("--note", default=None, help="free text stored with the result (e.g. what else ran)")
    args = p.parse_args()
    tmp = None
    store = args.store
    if store is None:
        tmp = tempfile.TemporaryDirectory(prefix="mvflows-bench-")
        store = tmp.name
    cmd = [
        sys.executable,
        "-c",
        "from mvflows.cli import main; main()",
        "run",
        args.campaign,
        "--store",
        store,
        "--no-progress",
    ]
    if args.model:
        cmd += ["--model", args.model]
    if args.jobs:
        cmd += ["--jobs", str(args.jobs)]
    print(" ".join(cmd[3:]), flush=True)
    speed_before, load_before = sevennet_call_s(), os.getloadavg()[0]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd)
    wall = time.perf_counter() - t0
    speed_after = sevennet_call_s()
    timings = json.loads((Path(store) / "work" / "timings.json").read_text())
    per_type = per_job_type(timings["jobs"])
    results = json.loads(
        subprocess.run(
            [
                sys.executable,
                "-c",
                "from mvflows.cli import main; main()",
                "results",
                "--store",
                store,
                "--format",
                "json",
            ],
            capture_output=True,
            text=True,
        ).stdout
        or "[]"
    )
    neb_runs = sum(1 for name, _ in timings["jobs"] if name == "neb" or name.startswith("neb "))
    result = {
        "benchmark": f"B-campaign: mvflows run {args.campaign}",
        "campaign": timings["campaign"],
        "exit_code": proc.returncode,
        "wall_s": wall,
        "runner_wall_s": timings["wall_s"],
        "model": args.model or "campaign default",
        "pairs": len(results),
        "pairs_successful": sum(r.get("state") == "successful" for r in results),
        "neb_runs": neb_runs,
        "jobs_run": timings["ran"],
        "jobs_reused": timings["reused"],
        "jobs_failed": timings["failed"],
        "jobs_at_once": timings.get("slots", 1),
        # seconds each job took, summed per type: with several jobs at once they add up to more than wall_s
        "per_job_type": dict(per_type),
        "job_seconds_total": sum(t["s"] for t in per_type.values()),
        "pairs_table": [
            {
                k: r.get(k)
                for k in (
                    "host",
                    "intercalant",
                    "stable_site",
                    "delta_e_site_ev",
                    "voltage_v",
                    "capacity_mah_g",
                    "barrier_ev",
                    "neb_skipped_reason",
                    "state",
                )
            }
            for r in results
        ],
        **machine(),
        "load_average_1min_at_start": load_before,
        "sevennet_eager_call_s_before_after": [speed_before, speed_after],
    }
    if args.note:
        result["note"] = args.note
    if results:
        result["model"] = results[0].get("calculator", result["model"])
    write_result(args.out, result)
    if tmp is not None:
        tmp.cleanup()


if __name__ == "__main__":
    main()
