"""B-literature: mvflows' NEB between published endpoints, against the published DFT barriers.

Every path of the literature set (``../shared/literature`` beside the checkout by
default: ``index.csv`` and ``<path>/initial.vasp``, ``final.vasp``) runs as ``mvflows
neb`` runs it: both endpoints relaxed in their fixed cell (one and its mirror image
when the path is symmetric), IDPP start, mvflows' band, with ONE set of NEB settings
for every path (the campaign defaults, the spinel21 settings; nothing is tuned per path).

Data: barrier values from the literature-derived migration-barrier dataset of R. Devi,
A. Balasubramanian, K. T. Butler and G. Sai Gautam (arXiv:2508.06459), each the value
reported by its original publication; endpoint structures from S. Bheemaguli, Y. Xiao
and G. Sai Gautam (arXiv:2512.03642; sai-mat-group/mlips-migration-barriers, MIT
licence). Cite them (see the data folder's README) when you use these numbers.

    python -m benchmarks.literature [--data DIR] [--model SevenNet] [--store DIR]
        -> benchmarks/results/literature.json
"""

from __future__ import annotations

import argparse
import csv
import re
import tempfile
import time
from pathlib import Path

from benchmarks.common import machine, write_result

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "literature"


def read_index(data: Path) -> list[dict]:
    with (data / "index.csv").open() as fh:
        return list(csv.DictReader(fh))


def _force_calls(tags: list[str] | None) -> int | None:
    for tag in tags or []:
        m = re.match(r"force calls (\d+)", str(tag))
        if m:
            return int(m.group(1))
    return None


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument(
        "--data", type=Path, default=DEFAULT_DATA, help="folder with index.csv and the path folders"
    )
    p.add_argument("--model", default="SevenNet")
    p.add_argument("--store", default=None, help="store (default: a fresh temporary one, nothing reused)")
    p.add_argument("--jobs", type=int, default=None, help="jobs at once (default: every core)")
    p.add_argument("--out", default="literature.json")
    args = p.parse_args()

    from rich.console import Console

    from mvflows.campaign import Campaign
    from mvflows.execution import run_flow
    from mvflows.execution.progress import reporter
    from mvflows.flows import CampaignMaker
    from mvflows.image_workers import available_cores
    from mvflows.models import load_model_or_fail
    from mvflows.store import job_store, query_results

    rows = read_index(args.data)
    paths = [
        {
            "name": r["sys_name"],
            "initial": str(args.data / r["sys_name"] / "initial.vasp"),
            "final": str(args.data / r["sys_name"] / "final.vasp"),
        }
        for r in rows
    ]
    camp = Campaign.model_validate(
        {"name": "literature", "paths": paths, "calculator": {"model": args.model}}
    )
    load_model_or_fail(camp.calculator.model, camp.calculator.model_kwargs)
    tmp = tempfile.TemporaryDirectory(prefix="mvflows-literature-") if args.store is None else None
    store = job_store(args.store or tmp.name)
    flow = CampaignMaker().make(camp)
    slots = args.jobs or available_cores()
    t0 = time.perf_counter()
    report = run_flow(
        flow,
        store,
        Path(args.store or tmp.name) / "work",
        jobs=slots,
        reporter=reporter("lines", Console(stderr=True), slots),
    )
    wall = time.perf_counter() - t0
    docs = {d["host"]: d for d in query_results(store.additional_stores["results"], campaign="literature")}
    out_rows, errors = [], []
    for r in rows:
        name, dft = r["sys_name"], float(r["dft_barrier_eV"])
        doc = docs.get(name, {})
        neb_doc = None
        if (doc.get("job_uuids") or {}).get("neb"):
            neb_doc = store.query_one(
                {"uuid": doc["job_uuids"]["neb"]}, properties=["output.tags"], sort={"index": -1}
            )
        seconds = sum(s for job, s in report.seconds if job.endswith(f" {name}") or f" {name} (" in job)
        barrier = doc.get("barrier_ev")
        if barrier is not None:
            errors.append(abs(barrier - dft))
        out_rows.append(
            {
                "path": name,
                "ion": r["ion"],
                "limit": r["limit"],
                "space_group": r["space_group"],
                "dft_barrier_ev": dft,
                "barrier_ev": barrier,
                "error_ev": None if barrier is None else barrier - dft,
                "state": doc.get("state"),
                "failure_reasons": doc.get("failure_reasons"),
                "force_calls": _force_calls(((neb_doc or {}).get("output") or {}).get("tags")),
                "job_seconds": round(seconds, 1),
                "atoms": None,
            }
        )
        from pymatgen.core import Structure

        out_rows[-1]["atoms"] = len(Structure.from_file(str(args.data / name / "initial.vasp")))
    result = {
        "benchmark": "B-literature: NEB between published endpoints against published DFT barriers",
        "model": camp.calculator.model,
        "settings": camp.neb.model_dump(),
        "jobs_at_once": slots,
        "wall_s": round(wall, 1),
        "mae_ev": sum(errors) / len(errors) if errors else None,
        "n": len(errors),
        "paths": out_rows,
        "data": "Devi et al., arXiv:2508.06459 (barriers); Bheemaguli, Xiao and Sai Gautam, arXiv:2512.03642 "
        "(endpoints, sai-mat-group/mlips-migration-barriers, MIT)",
        **machine(),
    }
    write_result(args.out, result)
    for row in out_rows:
        barrier = "-" if row["barrier_ev"] is None else f"{row['barrier_ev']:.3f}"
        print(
            f"{row['path']:12s} {barrier:>7} DFT {row['dft_barrier_ev']:.3f}  {row['state']}  "
            f"calls {row['force_calls']}  {row['job_seconds']} s"
        )
    print(f"MAE {result['mae_ev']} eV over {result['n']} paths; wall {wall:.0f} s")


if __name__ == "__main__":
    main()
