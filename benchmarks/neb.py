"""B-NEB: one hop of Mg in Cr2S4, atomate2's stock NEB maker against mvflows' NEB.

Both start from the same relaxed endpoints (97 atoms, 7 moving images) and stop at the
same fmax, in this one process. Stock: ``ForceFieldNebFromImagesMaker`` with its
defaults plus the climbing image, on atomate2's own (linear) images, loading its model in
the job as atomate2 does. mvflows: ``MvNebMaker`` on mvflows' IDPP images through the
hop's void, timed from building those images, starting its image workers included
(``mvflows_s``), and once more with the workers running (``mvflows_warm_s``, as in a
campaign). Reference: every image computed, FIRE, fmax 0.01 eV/Å.
Force calls count every single-structure energy+force evaluation.

    python -m benchmarks.neb [--model SevenNet] [--fmax 0.05] [--reference-from OLD.json]
        -> benchmarks/results/neb.json
"""

from __future__ import annotations

import argparse
import tempfile
import time

from jobflow import Flow, run_locally
from monty.serialization import dumpfn, loadfn

from benchmarks.common import RESULTS, CallCounter, machine, write_result
from mvflows.atomate2_fixes import neb_kwargs
from mvflows.calculators import ForceFieldCalculator, MvNebMaker
from mvflows.image_workers import ImageEvaluator, available_cores
from mvflows.models import resolve_model_name
from mvflows.neb_band import run_band
from mvflows.neb_path import hop_images, spinel_hop
from mvflows.structures import charged_spinel


def _run(flow, ensure_success: bool = False):  # type: ignore[no-untyped-def]
    """run_locally in a throw-away folder: atomate2's makers write files (final_atoms_object.xyz) into it."""
    with tempfile.TemporaryDirectory(prefix="mvflows-bench-") as tmp:
        return run_locally(flow, ensure_success=ensure_success, log=False, root_dir=tmp, create_folders=True)


def endpoints(model: str) -> dict:
    """Relaxed Cr2S4 host, then the two Mg endpoints in its 2x2x2 supercell (fixed cell)."""
    ff = ForceFieldCalculator(model=model)
    host_job = ff.relax_maker(fmax=0.02).make(charged_spinel("Cr"))
    host = _run(host_job, ensure_success=True)[host_job.uuid][1].output.structure
    hop = spinel_hop(host, "Mg", "tet")
    relax = ff.relax_maker(relax_cell=False, fmax=0.02, steps=500)
    jobs = [relax.make(hop.start), relax.make(hop.end)]
    out = _run(Flow(jobs), ensure_success=True)
    start, end = (out[j.uuid][1].output for j in jobs)
    return {
        "start": start.structure,
        "end": end.structure,
        "via": hop.via,
        "endpoint_energies": [start.output.energy, end.output.energy],
    }


def barrier(energies) -> float:
    return float(max(energies) - min(energies))


def stock(model: str, ep: dict, fmax: float, images: int) -> dict:
    from atomate2.common.jobs.neb import _get_images_from_endpoints
    from atomate2.forcefields.neb import ForceFieldNebFromImagesMaker

    band = _get_images_from_endpoints([ep["start"], ep["end"]], images)  # atomate2's default: linear
    maker = ForceFieldNebFromImagesMaker(
        force_field_name=resolve_model_name(model), neb_kwargs={"climb": True}, relax_kwargs={"fmax": fmax}
    )
    with CallCounter() as calls:
        t0 = time.perf_counter()
        job = maker.make(band)
        doc = _run(job)[job.uuid][1].output
        seconds = time.perf_counter() - t0
    return {
        "s": seconds,
        "force_calls": calls.n,
        "barrier_ev": barrier(doc.energies),
        "energies_ev": [e - doc.energies[0] for e in doc.energies],
        "state": str(doc.state),
        "tags": doc.tags,
    }


def mvflows_neb(model: str, ep: dict, fmax: float, images: int) -> dict:
    t0 = time.perf_counter()
    band = hop_images(ep["start"], ep["end"], ep["via"], images)
    maker = MvNebMaker(force_field_name=resolve_model_name(model), relax_kwargs={"fmax": fmax}, steps=500)
    with CallCounter() as calls:
        job = maker.make(band)
        doc = _run(job)[job.uuid][1].output
    seconds = time.perf_counter() - t0
    return {
        "s": seconds,
        "force_calls": calls.n,
        "barrier_ev": barrier(doc.energies),
        "energies_ev": [e - doc.energies[0] for e in doc.energies],
        "state": str(doc.state),
        "tags": doc.tags,
        "workers": min(available_cores(), images),
        "optimizer": maker.optimizer,
        "preclimb_fmax": maker.preclimb_fmax,
    }


def reference(model: str, ep: dict, images: int, fmax: float = 0.01) -> dict:
    band = hop_images(ep["start"], ep["end"], ep["via"], images)
    evaluate = ImageEvaluator(resolve_model_name(model), workers=min(available_cores(), images))
    # every image computed (no mirror), so the reference does not lean on mvflows' shortcut
    run = run_band(
        band,
        evaluate,
        fmax=fmax,
        steps=2000,
        neb_kwargs=neb_kwargs(climb=True),
        preclimb_fmax=0.3,
        use_mirror=False,
        optimizer="FIRE",
    )  # FIRE: not mvflows' own optimiser choice either
    e = run.result.energies
    return {
        "s": run.seconds,
        "force_calls": run.force_calls,
        "barrier_ev": barrier(e),
        "fmax": fmax,
        "optimizer": "FIRE",
        "converged": run.result.state == "successful",
        "max_neb_force": run.max_neb_force,
        "every_image_computed": not run.mirrored,
        "energies_ev": [x - e[0] for x in e],
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="SevenNet")
    p.add_argument("--fmax", type=float, default=0.05)
    p.add_argument("--images", type=int, default=7)
    p.add_argument("--out", default="neb.json")
    p.add_argument(
        "--reference-fmax",
        type=float,
        default=0.01,
        help="fmax of the tight reference band (0.01 eV/Å; looser only to check the machinery)",
    )
    p.add_argument(
        "--reference-from",
        default=None,
        help="take the tight reference from an earlier result file (same model, images, endpoints)",
    )
    args = p.parse_args()
    t0 = time.perf_counter()
    cache = RESULTS / f"neb_endpoints_{resolve_model_name(args.model)}.json"
    if cache.exists():  # the same endpoints for every run on this machine (both NEBs share them anyway)
        print(f"endpoints from {cache}", flush=True)
        ep = loadfn(cache)
    else:
        print("relaxing host and endpoints ...", flush=True)
        ep = endpoints(args.model)
        dumpfn(ep, cache)
    setup_s = time.perf_counter() - t0
    print(f"  {setup_s:.0f} s; endpoint energies {ep['endpoint_energies']}", flush=True)
    print("stock atomate2 NEB ...", flush=True)
    st = stock(args.model, ep, args.fmax, args.images)
    print(
        f"  {st['s']:.0f} s, {st['force_calls']} force calls, barrier {st['barrier_ev']:.3f} eV", flush=True
    )
    print("mvflows NEB ...", flush=True)
    mv = mvflows_neb(args.model, ep, args.fmax, args.images)
    print(
        f"  {mv['s']:.0f} s, {mv['force_calls']} force calls, barrier {mv['barrier_ev']:.3f} eV", flush=True
    )
    # Again, with the image workers already running and their model loaded, as for every
    # NEB after the first one of a campaign (the stock maker loads its model in each job).
    print("mvflows NEB, workers already started ...", flush=True)
    warm = mvflows_neb(args.model, ep, args.fmax, args.images)
    print(
        f"  {warm['s']:.0f} s, {warm['force_calls']} force calls, barrier {warm['barrier_ev']:.3f} eV",
        flush=True,
    )
    if args.reference_from:
        old = loadfn(args.reference_from)
        same = (
            old["model"] == resolve_model_name(args.model)
            and old["moving_images"] == args.images
            and old["endpoint_energies_ev"] == list(ep["endpoint_energies"])
        )
        if not same:
            raise SystemExit(
                f"{args.reference_from}: different model, images or endpoints; run the reference"
            )
        ref = {**old["reference"], "reused_from_run_of": old["date"]}
        print(f"tight reference from {args.reference_from} ({old['date']})", flush=True)
    else:
        print(f"tight reference (fmax {args.reference_fmax}) ...", flush=True)
        ref = reference(args.model, ep, args.images, args.reference_fmax)
    print(f"  {ref['s']:.0f} s, barrier {ref['barrier_ev']:.3f} eV", flush=True)
    result = {
        "benchmark": "B-NEB: Mg in Cr2S4, tet-oct-tet hop, 2x2x2 supercell (97 atoms)",
        "model": resolve_model_name(args.model),
        "moving_images": args.images,
        "fmax": args.fmax,
        "stock_s": st["s"],
        "mvflows_s": mv["s"],
        "speedup": st["s"] / mv["s"],
        "stock_force_calls": st["force_calls"],
        "mvflows_force_calls": mv["force_calls"],
        "barrier_stock_ev": st["barrier_ev"],
        "barrier_mvflows_ev": mv["barrier_ev"],
        "barrier_reference_ev": ref["barrier_ev"],
        "mvflows_minus_reference_mev": 1000 * (mv["barrier_ev"] - ref["barrier_ev"]),
        "mvflows_warm_s": warm["s"],
        "speedup_warm": st["s"] / warm["s"],
        "stock": st,
        "mvflows": mv,
        "mvflows_warm": warm,
        "reference": ref,
        "endpoint_setup_s": setup_s,
        "endpoints_cached": cache.exists() and setup_s < 5,
        "endpoint_energies_ev": ep["endpoint_energies"],
        **machine(),
    }
    write_result(args.out, result)


if __name__ == "__main__":
    main()
