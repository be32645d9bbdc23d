"""B-model-speed: seconds per force call of every offline model on the 97-atom NEB supercell.

The supercell every spinel hop runs in: a 2x2x2 Cr2S4 framework (96 atoms) with one Mg on
a tetrahedral site. Each model runs on one thread (what one `mvflows run` job gets on a
laptop core); after one warm-up call, ``--calls`` energy+force calls on slightly displaced
copies (a new geometry each time, as in a relax). Median and range per model; all models
run in one process one after another, so the machine's load is shared alike.

    python -m benchmarks.model_speed [--calls 10] [--models 7net-0,chgnet-0.3.0]
        -> benchmarks/results/model_speed.json
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from benchmarks.common import machine, write_result


def supercell():  # type: ignore[no-untyped-def]
    from mvflows.structures import charged_spinel
    from mvflows.structures.spinel import TET_SITES

    cell = charged_spinel("Cr") * (2, 2, 2)
    cell.append("Mg", np.asarray(TET_SITES[0]) / 2.0)
    return cell


def call_seconds(calc, structure, calls: int, rng) -> list[float]:  # type: ignore[no-untyped-def]
    """Seconds of ``calls`` energy+force calls on slightly displaced copies, after one warm-up call."""
    from pymatgen.io.ase import AseAtomsAdaptor

    atoms = AseAtomsAdaptor.get_atoms(structure)
    atoms.calc = calc
    atoms.get_forces()  # warm-up
    times = []
    for _ in range(calls):
        moved = atoms.copy()
        moved.positions += rng.normal(0.0, 0.01, moved.positions.shape)
        moved.calc = calc
        t = time.perf_counter()
        moved.get_potential_energy()
        moved.get_forces()
        times.append(time.perf_counter() - t)
    return times


def main() -> None:
    from mvflows.models import MODEL_CATALOG

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--calls", type=int, default=10)
    p.add_argument("--models", default=",".join(MODEL_CATALOG))
    args = p.parse_args()

    import torch

    from mvflows.models import cached_calculator, default_kwargs, resolve_model

    torch.set_num_threads(1)
    structure = supercell()
    rng = np.random.default_rng(0)
    rows = {}
    for name in args.models.split(","):
        mlff, kwargs = resolve_model(name)
        t0 = time.perf_counter()
        calc = cached_calculator(mlff, **{**default_kwargs(mlff), **kwargs})
        load_s = time.perf_counter() - t0
        times = call_seconds(calc, structure, args.calls, rng)
        rows[name] = {
            "atoms": len(structure),
            "load_s": round(load_s, 2),
            "s_per_call_median": round(statistics.median(times), 3),
            "s_per_call_min": round(min(times), 3),
            "s_per_call_max": round(max(times), 3),
        }
        print(name, rows[name], flush=True)
    write_result(
        "model_speed.json",
        {"benchmark": "B-model-speed: one force call, 97 atoms, one thread", "models": rows, **machine()},
    )


if __name__ == "__main__":
    main()
