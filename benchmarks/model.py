"""B-model: the four published pairs of the spinel study with each offline model, MAE vs DFT.

Runs ``mvflows run workflows/table1.yaml --model M`` for every offline model (the short
names of :data:`mvflows.models.MODEL_CATALOG`; docs/models.md) into one
store (jobs already computed there, e.g. by the spinel21 benchmark with the same
settings, are reused through content keys; the run's wall time says what was new), then
puts the computed voltage, stable site and barrier beside the DFT values of the
package's reference file (mvflows/data/reference_values.yaml, Table 1 rows).

    python -m benchmarks.model [--store DIR | --store 7net-0=DIR1,chgnet-0.3.0=DIR2] [--models 7net-0,...]
        -> benchmarks/results/model.json

A store per model lets each model's run be made beside other work and scored later.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from importlib import resources

import yaml

from benchmarks.common import RESULTS, machine, write_result
from mvflows.models import MODEL_CATALOG, model_label

QUANTITIES = ("voltage_v", "barrier_ev", "stable_site")
CLI = [sys.executable, "-c", "from mvflows.cli import main; main()"]


def table1_references() -> list[dict]:
    text = resources.files("mvflows").joinpath("data/reference_values.yaml").read_text()
    rows = yaml.safe_load(text)["rows"]
    return [
        r
        for r in rows
        if r.get("kind") == "dft" and "Table 1" in r.get("source", "") and r["quantity"] in QUANTITIES
    ]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument(
        "--store",
        default="benchmarks/results/model_store",
        help="one store directory, or MODEL=DIR pairs separated by commas",
    )
    p.add_argument("--models", default=",".join(MODEL_CATALOG), help="short names, comma-separated")
    p.add_argument("--campaign", default="workflows/table1.yaml")
    args = p.parse_args()
    refs = table1_references()
    with open(args.campaign) as fh:
        campaign_name = yaml.safe_load(fh)["name"]
    stores = dict(item.split("=", 1) for item in args.store.split(",")) if "=" in args.store else {}
    if stores and set(args.models.split(",")) - set(stores):
        p.error(f"--store names {sorted(stores)} but --models is {args.models}")
    out: dict = {"benchmark": "B-model: Table 1 pairs of the spinel study", "models": {}}
    for model in args.models.split(","):
        store = stores.get(model, args.store)
        print(f"{model}: mvflows run {args.campaign} --store {store} ...", flush=True)
        t0 = time.perf_counter()
        proc = subprocess.run(
            [*CLI, "run", args.campaign, "--store", store, "--model", model, "--no-progress"]
        )
        wall = time.perf_counter() - t0
        docs = json.loads(
            subprocess.run(
                [*CLI, "results", "--store", store, "--format", "json", "--members"],  # a committee's too
                capture_output=True,
                text=True,
            ).stdout
            or "[]"
        )
        label = f"forcefield:{model_label(model)}"
        docs = [
            d
            for d in docs
            if d.get("calculator") == label and d.get("campaign") == campaign_name and not d.get("committee")
        ]
        rows, errors = [], {"voltage_v": [], "barrier_ev": []}
        ok_barrier = []  # barrier errors of pairs whose result is `successful` (others carry failure_reasons)
        site_hits = 0
        for r in refs:
            doc = next(
                (d for d in docs if d["host"] == r["host"] and d["intercalant"] == r["intercalant"]), None
            )
            computed = None if doc is None else doc.get(r["quantity"])
            row = {
                "pair": f"{r['intercalant']} in {r['host']}",
                "quantity": r["quantity"],
                "dft": r["value"],
                "computed": computed,
                "state": None if doc is None else doc.get("state"),
                "failure_reasons": None if doc is None else doc.get("failure_reasons"),
            }
            if r["quantity"] == "stable_site":
                row["agrees"] = computed == r["value"]
                site_hits += bool(row["agrees"])
            elif computed is not None:
                row["difference"] = computed - r["value"]
                errors[r["quantity"]].append(abs(computed - r["value"]))
                if r["quantity"] == "barrier_ev" and row["state"] == "successful":
                    ok_barrier.append(abs(computed - r["value"]))
            rows.append(row)
        n_sites = sum(r["quantity"] == "stable_site" for r in refs)
        out["models"][model] = {
            "store": store,
            **machine(),
            "exit_code": proc.returncode,
            "run_wall_s": wall,
            "mae_voltage_v": sum(errors["voltage_v"]) / len(errors["voltage_v"])
            if errors["voltage_v"]
            else None,
            "mae_barrier_ev": sum(errors["barrier_ev"]) / len(errors["barrier_ev"])
            if errors["barrier_ev"]
            else None,
            "n_voltage": len(errors["voltage_v"]),
            "n_barrier": len(errors["barrier_ev"]),
            "mae_barrier_ev_successful_pairs": sum(ok_barrier) / len(ok_barrier) if ok_barrier else None,
            "n_barrier_successful_pairs": len(ok_barrier),
            "stable_site_agreement": f"{site_hits}/{n_sites}",
            "rows": rows,
        }
        print(json.dumps({k: v for k, v in out["models"][model].items() if k != "rows"}), flush=True)
    # models measured before (another store, another day) stay unless measured again
    previous = RESULTS / "model.json"
    if previous.exists():
        kept = json.loads(previous.read_text()).get("models", {})
        out["models"] = {**{k: v for k, v in kept.items() if k in MODEL_CATALOG}, **out["models"]}
    write_result("model.json", {**out, **machine()})


if __name__ == "__main__":
    main()
