"""B-relax: which ASE optimiser mvflows' relaxations use (FIRE, atomate2's default, or BFGS).

Every relax of a campaign starts near its minimum: unit cells built from the published
structure with the cell free, and the 97-atom NEB endpoints (one ion in a relaxed
supercell, cell fixed). Both kinds are run here with each optimiser on one torch thread,
as a campaign job runs, with the fmax of ``spinel21.yaml``. Recorded per structure: steps,
seconds, energy per atom.

    python -m benchmarks.relax [--model SevenNet] [--optimizers FIRE BFGS] -> benchmarks/results/relax.json

``--quick`` relaxes only the three empty hosts (no NEB endpoints): a check of the machinery.
"""

from __future__ import annotations

import argparse
import time

from benchmarks.common import machine, write_result


def _relax(structure, calc, optimizer: str, fmax: float, relax_cell: bool) -> dict:  # type: ignore[no-untyped-def]
    from ase.filters import FrechetCellFilter
    from ase.optimize import BFGS, FIRE, LBFGS
    from pymatgen.io.ase import AseAtomsAdaptor

    atoms = AseAtomsAdaptor.get_atoms(structure)
    atoms.calc = calc
    target = FrechetCellFilter(atoms) if relax_cell else atoms
    opt = {"FIRE": FIRE, "BFGS": BFGS, "LBFGS": LBFGS}[optimizer](target, logfile=None)
    start = time.perf_counter()
    converged = bool(opt.run(fmax=fmax, steps=500))
    return {
        "steps": opt.nsteps,
        "s": time.perf_counter() - start,
        "converged": converged,
        "energy_per_atom_ev": float(atoms.get_potential_energy() / len(atoms)),
        "structure": AseAtomsAdaptor.get_structure(atoms),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="SevenNet")
    p.add_argument("--optimizers", nargs="+", default=["FIRE", "BFGS"])
    p.add_argument("--out", default="relax.json")
    p.add_argument("--quick", action="store_true", help="the three empty host cells only")
    args = p.parse_args()

    import torch
    from atomate2.forcefields.utils import MLFF

    from mvflows.models import cached_calculator, resolve_model_name
    from mvflows.neb_path import spinel_hop
    from mvflows.structures import charged_spinel, octahedral_spinel, tetrahedral_spinel

    torch.set_num_threads(1)
    calc = cached_calculator(MLFF(resolve_model_name(args.model)))
    cells = {f"{b}2S4": charged_spinel(b) for b in ("Ti", "Cr", "Mn")}
    for b in () if args.quick else ("Cr", "Mn"):
        for ion in ("Mg", "Ca"):
            cells[f"{ion}{b}2S4 tet"] = tetrahedral_spinel(ion, b)
            cells[f"{ion}{b}2S4 oct"] = octahedral_spinel(ion, b)

    rows = []
    for name, structure in cells.items():
        for opt in args.optimizers:
            row = {
                "structure": name,
                "kind": "unit cell, cell free",
                "optimizer": opt,
                "fmax": 0.05,
                **_row(_relax(structure, calc, opt, 0.05, relax_cell=True)),
            }
            rows.append(row)
            print(f"{name:16s} {opt:5s} {row['steps']:4d} steps {row['s']:6.1f} s", flush=True)
    host = (
        None if args.quick else _relax(charged_spinel("Cr"), calc, "BFGS", 0.02, relax_cell=True)["structure"]
    )
    for ion, site in () if args.quick else (("Mg", "tet"), ("Ca", "oct")):
        start = spinel_hop(host, ion, site).start
        for opt in args.optimizers:
            row = {
                "structure": f"{ion} {site} in Cr2S4 2x2x2",
                "kind": "NEB endpoint, cell fixed",
                "optimizer": opt,
                "fmax": 0.02,
                **_row(_relax(start, calc, opt, 0.02, relax_cell=False)),
            }
            rows.append(row)
            print(f"{row['structure']:16s} {opt:5s} {row['steps']:4d} steps {row['s']:6.1f} s", flush=True)

    totals = {}
    for kind in ("unit cell, cell free", "NEB endpoint, cell fixed"):
        for opt in args.optimizers:
            sel = [r for r in rows if r["kind"] == kind and r["optimizer"] == opt]
            totals[f"{kind} | {opt}"] = {"s": sum(r["s"] for r in sel), "steps": sum(r["steps"] for r in sel)}
    write_result(
        args.out,
        {
            "benchmark": "B-relax: optimiser of the relaxations, one torch thread",
            "model": args.model,
            "totals": totals,
            "rows": rows,
            **machine(),
        },
    )


def _row(result: dict) -> dict:
    return {k: v for k, v in result.items() if k != "structure"}


if __name__ == "__main__":
    main()
