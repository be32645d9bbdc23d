"""Stepwise insertion into a host whose sites symmetry does not give: find, relax, keep the lowest.

Each step proposes the symmetry-distinct interstitial sites of the current cell
(:func:`mvflows.interstitials.candidate_sites`, at most ``max_candidates``), relaxes the
cell with one more ion on each, and keeps the lowest-energy arrangement; the next step
starts from it, until the cell holds ``n_target`` ions. The graph grows at run time
(jobflow ``Response(replace=...)``); every relax is content-keyed, so a resumed run reuses
them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from jobflow import Flow, JobConfig, Maker, OnMissing, Response, job
from monty.json import MSONable
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


@dataclass
class InsertionPlan(MSONable):
    """What one stepwise insertion does, handed from step to step unchanged."""

    host: str
    intercalant: str
    formula_units: float
    n_target: int  # ions in the cell at the end
    relax_maker: Maker
    max_candidates: int
    min_distance: float


@job
def insert_next_ion(structure: Structure, plan: InsertionPlan, history: list[dict[str, Any]] | None = None) -> Response:
    """Relax one more ion on each candidate site of ``structure``; a pick job keeps the lowest."""
    ion = plan.intercalant
    candidates = candidate_sites(structure, ion, max_candidates=plan.max_candidates, min_distance=plan.min_distance)
    if not candidates:
        raise ValueError(
            f"no interstitial site left for {ion} in {structure.composition.reduced_formula} "
            f"(min distance {plan.min_distance} Å)"
        )
    n_now = int(structure.composition[ion]) if ion in structure.composition else 0
    relaxes = []
    for i, cand in enumerate(candidates):
        relax = keyed(plan.relax_maker.make(with_ion(structure, ion, cand.frac_coords)))
        relax.append_name(f" {ion}{n_now + 1} in {plan.host} site {i + 1}")
        relaxes.append(relax)
    pick = keyed(
        pick_lowest(
            [r.output.structure for r in relaxes],
            [r.output.output.energy for r in relaxes],
            [{"frac_coords": c.frac_coords, "free_space_a": c.free_space_a, "multiplicity": c.multiplicity}
             for c in candidates],
            plan,
            history or [],
        )
    )
    pick.name = f"pick {ion}{n_now + 1} in {plan.host}"
    return Response(replace=Flow([*relaxes, pick], output=pick.output))


@job(config=JobConfig(on_missing_references=OnMissing.NONE))
def pick_lowest(
    structures: list[Structure | None],
    energies: list[float | None],
    candidates: list[dict[str, Any]],
    plan: InsertionPlan,
    history: list[dict[str, Any]],
) -> Response | InsertionDocument:
    """Keep the lowest-energy relaxed candidate; continue until ``plan.n_target`` ions."""
    ion, host = plan.intercalant, plan.host
    done = [(e, i) for i, e in enumerate(energies) if e is not None and structures[i] is not None]
    if not done:
        raise RuntimeError(f"every candidate relax of {ion} in {host} failed")
    energy, best = min(done)
    chosen = structures[best]
    cands = [
        InsertionCandidate(**{**dict(c), "energy_ev": energies[i]})
        for i, c in enumerate(candidates)
    ]
    n_ions = int(chosen.composition[ion])
    step = InsertionStep(
        n_ions=n_ions,
        x=n_ions / plan.formula_units,
        energy_ev=float(energy),
        structure=chosen,
        candidates=cands,
        chosen=best,
        ion_frac_coords=[float(v) for v in np.asarray(chosen[-1].frac_coords) % 1.0],
    )
    history = [*history, step.model_dump()]
    if n_ions < plan.n_target:
        nxt = insert_next_ion(chosen, plan, history)
        nxt.name = f"insert {ion}{n_ions + 1} in {host}"
        return Response(replace=nxt)
    return InsertionDocument(
        host=host, intercalant=ion, formula_units=plan.formula_units,
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
