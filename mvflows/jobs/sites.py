"""The sites stage of the pair graph: where the intercalant sits, and the discharged cells.

Two makers with one ``make`` signature and one output (:class:`~mvflows.schemas.SitesDocument`):

* :class:`SpinelSitesMaker`: A on tetrahedral 8a and on octahedral 16c, each cell relaxed;
  the stable site comes from the energies alone (machine-learned potentials can flip it);
* :class:`InsertionSitesMaker`: stepwise insertion into a host whose sites symmetry does
  not give. Each step proposes the symmetry-distinct voids of the current cell
  (:func:`mvflows.interstitials.candidate_sites`), relaxes the cell with one more ion on
  each, keeps the lowest, and starts the next step from it until the cell holds the
  campaign's ``x_max``. The graph grows at run time (``Response(replace=...)``); every
  relax is content-keyed, so a resumed run reuses them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from jobflow import Flow, Job, JobConfig, Maker, OnMissing, Response
from monty.json import MSONable
from pymatgen.core import Structure

from mvflows.calculators import MvRelaxMaker
from mvflows.interstitials import candidate_sites, with_ion
from mvflows.keys import KeyedMaker, job
from mvflows.schemas import DischargeStep, InsertionCandidate, InsertionDocument, InsertionStep, SitesDocument
from mvflows.structures import octahedral_spinel, tetrahedral_spinel
from mvflows.structures.catalog import Host

# ------------------------------------------------------------------ spinels


@job(output_schema=SitesDocument)
def site_energy(
    intercalant: str,
    host: Host,
    tet_structure: Structure,
    tet_energy: float,
    oct_structure: Structure,
    oct_energy: float,
) -> SitesDocument:
    """ΔE_site = E(oct) - E(tet) per ion; the stable site comes from the energies alone.

    |ΔE_site| is a lower bound of the tet -> oct -> tet (or oct -> tet -> oct) barrier,
    which the NEB screen uses.
    """
    if tet_structure.composition != oct_structure.composition:
        raise ValueError(
            f"tet and oct cells differ in composition: {tet_structure.composition} vs "
            f"{oct_structure.composition}"
        )
    n_ion = int(tet_structure.composition[intercalant])
    e_tet, e_oct = tet_energy / n_ion, oct_energy / n_ion
    delta = e_oct - e_tet
    stable = "tet" if delta > 0 else "oct"
    structure, energy = (tet_structure, tet_energy) if stable == "tet" else (oct_structure, oct_energy)
    units = host.formula_units(structure.composition, intercalant)
    return SitesDocument(
        stable_site=stable,
        delta_e_site_ev=delta,
        barrier_lower_bound_ev=abs(delta),
        energy_tet_ev_per_ion=e_tet,
        energy_oct_ev_per_ion=e_oct,
        discharge=[DischargeStep(n_ions=n_ion, x=n_ion / units, energy_ev=energy, structure=structure)],
    )


@dataclass
class SpinelSitesMaker(KeyedMaker):
    """AB2S4 with A on tet 8a and on oct 16c (the same cells as the study), relaxed, compared."""

    name: str = "spinel sites"
    relax_maker: Maker = field(default_factory=MvRelaxMaker)

    def make(
        self,
        host: Host,
        intercalant: str,
        charged: Job,  # noqa: ARG002
        x_max: float = 1.0,  # noqa: ARG002
        start: dict[str, Any] | None = None,
    ) -> Flow:
        """``charged`` and ``x_max`` serve stepwise insertion; spinels start from their own cells at x = 1
        (or, warm, from ``start``'s ``relax_tet`` and ``relax_oct``)."""
        label = f"{intercalant}{host.name}"
        anion = host.anion or "S"
        start = start or {}
        tet = self.relax_maker.make(
            start.get("relax_tet") or tetrahedral_spinel(intercalant, host.redox_metal, anion=anion)
        )
        tet.append_name(f" {label} tet")
        octa = self.relax_maker.make(
            start.get("relax_oct") or octahedral_spinel(intercalant, host.redox_metal, anion=anion)
        )
        octa.append_name(f" {label} oct")
        site = site_energy(
            intercalant,
            host,
            tet.output.structure,
            tet.output.output.energy,
            octa.output.structure,
            octa.output.output.energy,
        )
        site.name = f"site energy {label}"
        for step, stage_job in (("relax_tet", tet), ("relax_oct", octa), ("site_energy", site)):
            stage_job.metadata["step"] = step  # the pair result's job_uuids name them so
        return Flow([tet, octa, site], output=site.output, name=f"sites {label}")


# ------------------------------------------------------------------ stepwise insertion


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
def insert_next_ion(
    structure: Structure, plan: InsertionPlan, history: list[dict[str, Any]] | None = None
) -> Response:
    """Relax one more ion on each candidate site of ``structure``; a pick job keeps the lowest."""
    ion = plan.intercalant
    candidates = candidate_sites(
        structure, ion, max_candidates=plan.max_candidates, min_distance=plan.min_distance
    )
    if not candidates:
        raise ValueError(
            f"no interstitial site left for {ion} in {structure.composition.reduced_formula} "
            f"(min distance {plan.min_distance} Å)"
        )
    n_now = int(structure.composition[ion]) if ion in structure.composition else 0
    relaxes = []
    for i, cand in enumerate(candidates):
        relax = plan.relax_maker.make(with_ion(structure, ion, cand.frac_coords))
        relax.append_name(f" {ion}{n_now + 1} in {plan.host} site {i + 1}")
        relaxes.append(relax)
    pick = pick_lowest(
        [r.output.structure for r in relaxes],
        [r.output.output.energy for r in relaxes],
        [
            {"frac_coords": c.frac_coords, "free_space_a": c.free_space_a, "multiplicity": c.multiplicity}
            for c in candidates
        ],
        plan,
        history or [],
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
    cands = [InsertionCandidate(**{**dict(c), "energy_ev": energies[i]}) for i, c in enumerate(candidates)]
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
        host=host,
        intercalant=ion,
        formula_units=plan.formula_units,
        steps=[InsertionStep.model_validate(h) for h in history],
    )


@job(output_schema=SitesDocument)
def dilute_site(insertion: InsertionDocument) -> SitesDocument:
    """The first step's lowest site (the dilute limit), its margin over the next best, every step."""
    first = insertion.steps[0]
    energies = [c.energy_ev for c in first.candidates]
    known = sorted(e for e in energies if e is not None)
    chosen = first.candidates[first.chosen]
    return SitesDocument(
        stable_site=f"void {first.chosen + 1}/{len(first.candidates)} (free {chosen.free_space_a:.2f} Å)",
        delta_e_site_ev=(known[1] - known[0]) if len(known) > 1 else None,
        site_frac_coords=first.ion_frac_coords,
        candidate_energies_ev=energies,
        discharge=[
            DischargeStep(n_ions=s.n_ions, x=s.x, energy_ev=s.energy_ev, structure=s.structure)
            for s in insertion.steps
        ],
    )


@dataclass
class InsertionSitesMaker(KeyedMaker):
    """Stepwise insertion up to ``x_max`` ions per formula; the first step is the dilute site."""

    name: str = "insertion sites"
    relax_maker: Maker = field(default_factory=MvRelaxMaker)
    max_candidates: int = 3
    min_distance_a: float = 1.8

    def make(
        self,
        host: Host,
        intercalant: str,
        charged: Job,
        x_max: float = 1.0,
        start: dict[str, Any] | None = None,  # noqa: ARG002 - each step starts from the last, warm already
    ) -> Flow:
        units = host.formula_units(host.structure().composition)
        n_target = round(x_max * units)
        plan = InsertionPlan(
            host.name,
            intercalant,
            units,
            n_target,
            self.relax_maker,
            self.max_candidates,
            self.min_distance_a,
        )
        insert = insert_next_ion(charged.output.structure, plan, [])
        insert.name = f"insert {intercalant}1 in {host.name}"
        site = dilute_site(insert.output)
        site.name = f"site search {intercalant} in {host.name}"
        insert.metadata["step"], site.metadata["step"] = "insertion", "site_energy"
        return Flow([insert, site], output=site.output, name=f"sites {intercalant} in {host.name}")


# ------------------------------------------------------------------ sites a file gives


@job(output_schema=SitesDocument)
def file_sites(intercalant: str, host: Host, structure: Structure, energy: float) -> SitesDocument:
    """The file's ion sites, relaxed with the pair's intercalant on them: the discharged cell.

    The dilute site for the hops is the first ion of the file, in the charged host's cell.
    """
    ions = [s for s in structure if s.specie.symbol == intercalant]
    units = host.formula_units(structure.composition, intercalant)
    first = next(s for s in host.discharged_with(intercalant) if s.specie.symbol == intercalant)
    return SitesDocument(
        stable_site=f"the file's {len(ions)} {intercalant} site{'s' if len(ions) > 1 else ''}",
        site_frac_coords=[float(v) for v in np.asarray(first.frac_coords) % 1.0],
        discharge=[
            DischargeStep(n_ions=len(ions), x=len(ions) / units, energy_ev=energy, structure=structure)
        ],
    )


@dataclass
class FileSitesMaker(KeyedMaker):
    """A discharged structure file's own sites: the cell is relaxed with the pair's ion on them."""

    name: str = "file sites"
    relax_maker: Maker = field(default_factory=MvRelaxMaker)

    def make(
        self,
        host: Host,
        intercalant: str,
        charged: Job,  # noqa: ARG002
        x_max: float = 1.0,  # noqa: ARG002
        start: dict[str, Any] | None = None,
    ) -> Flow:
        """``charged`` and ``x_max`` serve the other sites stages: the file fixes the sites and x
        (warm: ``start``'s ``relax_discharged`` is where the relax starts)."""
        first = (start or {}).get("relax_discharged") or host.discharged_with(intercalant)
        relax = self.relax_maker.make(first)
        relax.append_name(f" {intercalant} in {host.name} (file sites)")
        site = file_sites(intercalant, host, relax.output.structure, relax.output.output.energy)
        site.name = f"site energy {intercalant} in {host.name}"
        relax.metadata["step"], site.metadata["step"] = "relax_discharged", "site_energy"
        return Flow([relax, site], output=site.output, name=f"sites {intercalant} in {host.name}")
