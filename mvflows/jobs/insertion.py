"""Stepwise insertion into a host whose sites symmetry does not give: find, relax, keep the lowest.

Each step proposes the symmetry-distinct interstitial sites of the current cell
(:func:`mvflows.interstitials.candidate_sites`, at most ``max_candidates``), relaxes the
cell with one more ion on each, and keeps the lowest-energy arrangement; the next step
starts from it, until the cell holds ``n_target`` ions. The graph grows at run time
(jobflow ``Response(replace=...)``); every relax is content-keyed, so a resumed run reuses
them.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from jobflow import Flow, JobConfig, Maker, OnMissing, Response, job
from pymatgen.core import Structure

from mvflows.content_keys import keyed
from mvflows.electrochemistry import insertion_pair, ion_charge
from mvflows.interstitials import candidate_sites, with_ion
from mvflows.schemas import (
    InsertionCandidate,
    InsertionDocument,
    InsertionStep,
    SiteSearchDocument,
    VoltageDocument,
    VoltageStep,
)


@job
def insert_next_ion(
    structure: Structure,
    host: str,
    intercalant: str,
    formula_units: float,
    n_target: int,
    relax_maker: Maker,
    max_candidates: int,
    min_distance: float,
    history: list[dict[str, Any]] | None = None,
) -> Response:
    """Relax one more ion on each candidate site of ``structure``; a pick job keeps the lowest."""
    candidates = candidate_sites(structure, intercalant, max_candidates=max_candidates, min_distance=min_distance)
    if not candidates:
        raise ValueError(
            f"no interstitial site left for {intercalant} in {structure.composition.reduced_formula} "
            f"(min distance {min_distance} Å)"
        )
    n_now = int(structure.composition[intercalant]) if intercalant in structure.composition else 0
    relaxes = []
    for i, cand in enumerate(candidates):
        relax = keyed(relax_maker.make(with_ion(structure, intercalant, cand.frac_coords)))
        relax.append_name(f" {intercalant}{n_now + 1} in {host} site {i + 1}")
        relaxes.append(relax)
    pick = keyed(
        pick_lowest(
            [r.output.structure for r in relaxes],
            [r.output.output.energy for r in relaxes],
            [{"frac_coords": c.frac_coords, "free_space_a": c.free_space_a, "multiplicity": c.multiplicity}
             for c in candidates],
            host,
            intercalant,
            formula_units,
            n_target,
            relax_maker,
            max_candidates,
            min_distance,
            history or [],
        )
    )
    pick.name = f"pick {intercalant}{n_now + 1} in {host}"
    return Response(replace=Flow([*relaxes, pick], output=pick.output))


@job(config=JobConfig(on_missing_references=OnMissing.NONE))
def pick_lowest(
    structures: list[Structure | None],
    energies: list[float | None],
    candidates: list[dict[str, Any]],
    host: str,
    intercalant: str,
    formula_units: float,
    n_target: int,
    relax_maker: Maker,
    max_candidates: int,
    min_distance: float,
    history: list[dict[str, Any]],
) -> Response | InsertionDocument:
    """Keep the lowest-energy relaxed candidate; continue until ``n_target`` ions."""
    done = [(e, i) for i, e in enumerate(energies) if e is not None and structures[i] is not None]
    if not done:
        raise RuntimeError(f"every candidate relax of {intercalant} in {host} failed")
    energy, best = min(done)
    chosen = structures[best]
    cands = [
        InsertionCandidate(**{**dict(c), "energy_ev": energies[i]})
        for i, c in enumerate(candidates)
    ]
    n_ions = int(chosen.composition[intercalant])
    step = InsertionStep(
        n_ions=n_ions,
        x=n_ions / formula_units,
        energy_ev=float(energy),
        structure=chosen,
        candidates=cands,
        chosen=best,
        ion_frac_coords=[float(v) for v in np.asarray(chosen[-1].frac_coords) % 1.0],
    )
    history = [*history, step.model_dump()]
    if n_ions < n_target:
        nxt = insert_next_ion(
            chosen, host, intercalant, formula_units, n_target, relax_maker, max_candidates, min_distance, history
        )
        nxt.name = f"insert {intercalant}{n_ions + 1} in {host}"
        return Response(replace=nxt)
    return InsertionDocument(
        host=host, intercalant=intercalant, formula_units=formula_units,
        steps=[InsertionStep.model_validate(h) for h in history],
    )


@job(output_schema=SiteSearchDocument)
def dilute_site(insertion: InsertionDocument) -> SiteSearchDocument:
    """The first step's lowest site (the dilute limit) and its margin over the next best."""
    first = insertion.steps[0]
    energies = [c.energy_ev for c in first.candidates]
    known = sorted(e for e in energies if e is not None)
    chosen = first.candidates[first.chosen]
    return SiteSearchDocument(
        stable_site=f"void {first.chosen + 1}/{len(first.candidates)} (free {chosen.free_space_a:.2f} Å)",
        delta_e_site_ev=(known[1] - known[0]) if len(known) > 1 else None,
        site_frac_coords=first.ion_frac_coords,
        candidate_energies_ev=energies,
    )


@job(output_schema=VoltageDocument)
def insertion_voltage(
    intercalant: str,
    charged_structure: Structure,
    charged_energy: float,
    insertion: InsertionDocument,
    metal_structure: Structure,
    metal_energy: float,
) -> VoltageDocument:
    """Average voltage over the whole reaction host + x A -> AxHost, and the step-wise profile.

    Energies are per host formula unit; pymatgen's InsertionVoltagePair does the arithmetic
    V = [E(host) + x E(A) - E(AxHost)] / (x z) for the average and for every step.
    """
    n = insertion.formula_units
    e_metal = metal_energy / len(metal_structure)
    points = [(0.0, charged_structure.composition / n, charged_energy / n)]
    for step in insertion.steps:
        points.append((step.x, step.structure.composition / n, step.energy_ev / n))
    _x0, c0, e0 = points[0]
    x1, c1, e1 = points[-1]
    whole = insertion_pair(c0, e0, c1, e1, intercalant, e_metal)
    profile = []
    for (xa, ca, ea), (xb, cb, eb) in zip(points[:-1], points[1:]):
        pair = insertion_pair(ca, ea, cb, eb, intercalant, e_metal)
        profile.append(VoltageStep(x_start=xa, x_end=xb, voltage_v=float(pair.voltage)))
    capacity = float(whole.mAh / whole.mass_discharge)
    return VoltageDocument(
        voltage_v=float(whole.voltage),
        capacity_mah_g=capacity,
        specific_energy_wh_kg=float(whole.voltage) * capacity,
        x=x1,
        ion_charge=ion_charge(intercalant),
        energy_charged_ev_per_fu=e0,
        energy_discharged_ev_per_fu=e1,
        energy_metal_ev_per_atom=e_metal,
        profile=profile,
    )
