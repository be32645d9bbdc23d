"""B-plausibility: how many of a campaign's NEB bands the plausibility checks flag, per model.

Reads the pair results of the given campaigns from a store (nothing is computed: run the
campaigns first, e.g. ``mvflows run workflows/spinel21.yaml --store DIR``) and counts, for
every band (the pair's, or each limit's when there are several), what each check of
:mod:`mvflows.plausibility` found, with the two energies it compared and the DFT barrier of
the study's Table 1 where there is one. Because the checks store their numbers, the
counts are also given for other tolerances and windows than the campaign's (no rerun).

    python -m benchmarks.plausibility --store DIR --campaigns spinel21,table1-l3i5 \\
        [--wall spinel21=3600,table1-l3i5=2400] [--out plausibility.json]
        -> benchmarks/results/plausibility.json
"""

from __future__ import annotations

import argparse
from collections import Counter

from benchmarks.common import machine, write_result
from benchmarks.model import table1_references
from mvflows.plausibility import FACES, INTERMEDIATE, MAXIMUM

TOLERANCES = (0.05, 0.1, 0.2, 0.3, 0.5)
WINDOWS = (0.1, 0.125, 0.15, 0.2)


def bands(doc: dict) -> list[tuple[str, dict]]:
    """(limit, band) of a result: each limit's when it has several, else the pair's own."""
    if doc.get("limits"):
        return list(doc["limits"].items())
    return [("dilute", doc)] if doc.get("neb_energies_ev") else []


def band_row(doc: dict, limit: str, band: dict, dft: dict) -> dict:
    checks = {c["check"]: c for c in band.get("plausibility") or []}
    inter, top = checks.get(INTERMEDIATE, {}), checks.get(MAXIMUM, {})
    iv, mv = inter.get("values") or {}, top.get("values") or {}
    return {
        "pair": f"{doc['intercalant']} in {doc['host']}",
        "limit": limit,
        "hop": band.get("hop"),
        "barrier_ev": band.get("barrier_ev"),
        "dft_barrier_ev": dft.get((doc["host"], doc["intercalant"])) if limit == "dilute" else None,
        "state": doc.get("state"),
        "flagged": any(c.get("status") == "flagged" for c in checks.values()),
        "intermediate_site": {
            "status": inter.get("status"),
            "middle_image_ev": iv.get("middle_image_ev"),
            "relaxed_site_ev": iv.get("relaxed_site_ev"),
            "excess_ev": iv.get("excess_ev"),
        },
        "maximum_position": {"status": top.get("status"), "maximum_at": mv.get("maximum_at")},
        "profile_ev": [round(e, 3) for e in band.get("neb_energies_ev") or []],
    }


def sensitivity(rows: list[dict]) -> dict:
    """Bands flagged by each check at other tolerances and windows, from the stored numbers."""
    excess = [r["intermediate_site"]["excess_ev"] for r in rows]
    where = [r["maximum_position"]["maximum_at"] for r in rows]
    return {
        "intermediate_site_flagged_at_tolerance_ev": {
            str(t): sum(x is not None and x > t for x in excess) for t in TOLERANCES
        },
        "maximum_position_flagged_at_window": {
            str(w): sum(a is not None and min(abs(a - f) for f in FACES) > w + 1e-9 for a in where)
            for w in WINDOWS
        },
    }


def summarise(docs: list[dict], dft: dict) -> dict:
    rows = [band_row(d, limit, band, dft) for d in docs for limit, band in bands(d)]
    counts = {check: dict(Counter(r[check]["status"] for r in rows)) for check in (INTERMEDIATE, MAXIMUM)}
    return {
        "calculator": sorted({d.get("calculator") for d in docs}),
        "pairs": len(docs),
        "pairs_with_a_band": sum(bool(bands(d)) for d in docs),
        "bands": len(rows),
        "flagged_bands": sum(r["flagged"] for r in rows),
        "flagged_pairs": sum(bool(d.get("flagged")) for d in docs),
        "states": dict(Counter(d.get("state") for d in docs)),
        "checks": counts,
        "sensitivity": sensitivity(rows),
        "rows": rows,
    }


def main() -> None:
    from mvflows.store import query_results, results_store

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--store", required=True)
    p.add_argument("--campaigns", required=True, help="comma-separated campaign names")
    p.add_argument(
        "--wall", default="", help="CAMPAIGN=SECONDS,... wall times of the runs, recorded as given"
    )
    p.add_argument("--note", default="", help="how the store was made, recorded as given")
    p.add_argument("--out", default="plausibility.json")
    args = p.parse_args()
    dft = {
        (r["host"], r["intercalant"]): r["value"]
        for r in table1_references()
        if r["quantity"] == "barrier_ev"
    }
    store = results_store(args.store, read_only=True)
    out: dict = {
        "benchmark": "B-plausibility: NEB bands flagged by the plausibility checks",
        "store": args.store,
        "note": args.note,
        "wall_s": {k: float(v) for k, v in (item.split("=", 1) for item in args.wall.split(",") if item)},
        "campaigns": {},
    }
    for name in args.campaigns.split(","):
        docs = query_results(store, campaign=name)
        out["campaigns"][name] = summarise(docs, dft)
        s = out["campaigns"][name]
        flagged = f"{s['flagged_bands']}/{s['bands']} bands, {s['flagged_pairs']}/{s['pairs']} pairs"
        print(f"{name}: flagged {flagged}")
    write_result(args.out, {**out, **machine()})


if __name__ == "__main__":
    main()
