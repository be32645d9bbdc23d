"""B-refine: what the warm start of a refinement saves, on fake VASP's surrogate.

Runs the campaign (default workflows/smoke_refine.yaml) twice with ``mvflows run``, each
into a fresh store, both on the same fake VASP settings:

* warm: as written, every pair refined (``refine.top`` raised to all pairs): the VASP
  relaxes start from the force-field-relaxed structures, the VASP NEB from the
  force-field band;
* cold: the same pairs with ``calculator.kind: fake-vasp`` and no ``refine``: the VASP
  relaxes start from the unrelaxed structures, the NEB from IDPP between the relaxed
  endpoints.

Counted from the VASP job folders: ionic steps of every relax (OSZICAR lines) and NEB
iterations (fake VASP's vasp.out). The surrogate is the force field itself, so a warm
relax starts at its minimum: this measures the machinery, and bounds what a warm start
can save; on real DFT the force field's structures are near, not at, the DFT minimum.

    python -m benchmarks.refine [--campaign workflows/smoke_refine.yaml] [--max-ionic-steps 60]
        -> benchmarks/results/refine.json
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml
from monty.io import zopen

from benchmarks.common import RESULTS, machine, write_result


def _steps(folder: Path) -> int | None:
    files = sorted(folder.glob("OSZICAR*"))
    if not files:
        return None
    with zopen(files[0], "rt") as fh:
        return sum(" F=" in line for line in fh)


def _neb_iterations(folder: Path) -> int | None:
    """fake VASP's own count: its vasp.out says after how many iterations the band stopped."""
    files = sorted(folder.glob("vasp.out*"))
    if not files:
        return None
    with zopen(files[0], "rt") as fh:
        found = re.search(r"after (\d+) iterations", fh.read())
    return int(found.group(1)) if found else None


def count(store: Path) -> dict:
    """Ionic steps of each VASP relax and NEB iterations, by job name, from a store's job folders."""
    from mvflows.store import job_store

    js = job_store(str(store))
    names = {d["uuid"]: d["name"] for d in js.docs_store.query({}, properties=["uuid", "name"])}
    per_job: list[dict] = []
    for marker in (store / "work").glob("job_*/mvflows_job.json"):
        folder = marker.parent
        kind = json.loads(marker.read_text())["kind"]
        uuid = folder.name.removeprefix("job_").rsplit("_", 1)[0]
        name = names.get(uuid, uuid).replace(" (warm start)", "")
        steps = _neb_iterations(folder) if kind == "neb" else _steps(folder)
        if steps is None or kind == "static":
            continue
        per_job.append({"job": name, "kind": kind, "steps": steps, "folder": folder.name})
    totals = {
        "relax_ionic_steps": sum(j["steps"] for j in per_job if j["kind"] == "relax"),
        "neb_iterations": sum(j["steps"] for j in per_job if j["kind"] == "neb"),
        "vasp_relax_and_neb_jobs": len(per_job),
    }
    return {"totals": totals, "jobs": sorted(per_job, key=lambda j: (j["kind"], j["job"]))}


def run(campaign: Path, store: Path, jobs: int) -> dict:
    t0 = time.perf_counter()
    cmd = [sys.executable, "-c", "from mvflows.cli import main; main()", "run", str(campaign)]
    proc = subprocess.run(
        [*cmd, "--store", str(store), "--jobs", str(jobs), "--no-progress"], capture_output=True, text=True
    )
    wall = time.perf_counter() - t0
    if proc.returncode not in (0, 1):
        sys.exit(f"mvflows run failed ({proc.returncode}): {proc.stderr[-2000:]}")
    return {"wall_s": round(wall, 1), "exit_code": proc.returncode, **count(store)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--campaign", default="workflows/smoke_refine.yaml")
    p.add_argument("--max-ionic-steps", type=int, default=60, help="fake VASP's cap on steps per job")
    p.add_argument("--jobs", type=int, default=2)
    p.add_argument("--out", default="refine.json")
    p.add_argument(
        "--recount", type=Path, default=None, help="only count again the stores of an earlier run's folder"
    )
    args = p.parse_args()
    if args.recount is not None:  # the wall times stay those of the run
        path = RESULTS / args.out
        result = json.loads(path.read_text())
        for label in ("warm", "cold"):
            result[label].update(count(args.recount / f"{label}_store"))
        write_result(args.out, result)
        return
    data = yaml.safe_load(Path(args.campaign).read_text())
    work = Path(tempfile.mkdtemp(prefix="mvflows-refine-bench-"))
    fake = {"max_ionic_steps": args.max_ionic_steps, "vasp_cmd": "mvflows-fake-vasp"}
    (work / "vasp.yaml").write_text(yaml.safe_dump({"fake": fake}))
    n_pairs = len(data.get("pairs", [])) or len(data.get("hosts", [])) * len(data.get("intercalants", []))
    warm = {**data, "refine": {**data["refine"], "top": n_pairs, "vasp_config": str(work / "vasp.yaml")}}
    cold = {k: v for k, v in data.items() if k != "refine"}
    cold["calculator"] = {
        **data.get("calculator", {}),
        "kind": "fake-vasp",
        "vasp_config": str(work / "vasp.yaml"),
    }
    cold["name"] = f"{data['name']}-cold"
    out = {}
    for label, campaign in (("warm", warm), ("cold", cold)):
        path = work / f"{label}.yaml"
        path.write_text(yaml.safe_dump(campaign))
        print(f"== {label}: mvflows run {path}", flush=True)
        out[label] = run(path, work / f"{label}_store", args.jobs)
        print(json.dumps(out[label]["totals"]), flush=True)
    result = {
        "benchmark": "B-refine",
        "campaign": args.campaign,
        "fake_max_ionic_steps": args.max_ionic_steps,
        "note": "surrogate = the screening force field: warm relaxes start at its minimum",
        "work_dir": str(work),
        **out,
        **machine(),
    }
    write_result(args.out, result)


if __name__ == "__main__":
    main()
