"""The stability stage of the pair graph: E_hull of the charged and discharged phases.

The competing phases are the prototypes of ``data/competing_phases.yaml`` in the pair's
chemical system, each relaxed once per campaign with the campaign's calculator (S8 and O2
as molecules in a fixed box), plus the intercalant's metal reference and any user entries.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from jobflow import Job, Maker
from pymatgen.core import Composition, Structure

from mvflows.calculators import MvRelaxMaker
from mvflows.keys import KeyedMaker, job
from mvflows.schemas import SitesDocument, StabilityDocument
from mvflows.stability import hull_energies
from mvflows.structures.catalog import Host


@job(output_schema=StabilityDocument)
def stability(
    charged_structure: Structure,
    charged_energy: float,
    sites: SitesDocument,
    phase_names: list[str],
    phase_structures: list[Structure],
    phase_energies: list[float],
    user_entries: list[dict[str, Any]] | None = None,
) -> StabilityDocument:
    """E_hull (eV/atom) of both phases against the relaxed prototypes and any user entries."""
    discharged = sites.discharge[-1]
    competing = [
        (n, s.composition, e) for n, s, e in zip(phase_names, phase_structures, phase_energies, strict=True)
    ]
    for row in user_entries or []:
        comp = Composition(row["formula"])
        competing.append(
            (
                f"{comp.reduced_formula} ({row.get('source', 'user')})",
                comp,
                row["energy_per_atom"] * comp.num_atoms,
            )
        )
    chemsys = {el.symbol for el in discharged.structure.composition.elements}
    competing = [c for c in competing if {el.symbol for el in c[1].elements} <= chemsys]
    result = hull_energies(
        {
            "charged": (charged_structure.composition, charged_energy),
            "discharged": (discharged.structure.composition, discharged.energy_ev),
        },
        competing,
    )
    return StabilityDocument(
        chemsys="-".join(sorted(chemsys)),
        e_hull_charged_ev_atom=result["charged"][0],
        e_hull_discharged_ev_atom=result["discharged"][0],
        decomposition_charged=result["charged"][1],
        decomposition_discharged=result["discharged"][1],
        competing_phases=[c[0] for c in competing],
    )


@dataclass
class StabilityMaker(KeyedMaker):
    """Competing-phase relaxes (shared by the pairs of a campaign) and the E_hull job of a pair."""

    name: str = "stability"
    relax_maker: Maker = field(default_factory=MvRelaxMaker)
    molecule_relax_maker: Maker = field(default_factory=lambda: MvRelaxMaker(relax_cell=False))
    prototypes: bool = True  # relax the shipped competing phases
    user_entries: list[dict[str, Any]] | None = None  # from a user entries file (same energy model)

    def phase_relaxes(self, host: Host, intercalant: str, cache: dict[str, Job]) -> dict[str, Job]:
        """Relax jobs of the shipped phases of the pair's chemical system; ``cache`` shares them.

        The intercalant's metal is left out: its own relax (the voltage reference) is used.
        """
        from mvflows.structures.prototypes import build, is_molecule, phases_in

        if not self.prototypes:
            return {}
        elements = {el.symbol for el in Composition(host.formula).elements} | {intercalant}
        phases = {}
        for name in phases_in(elements):
            if name == intercalant:
                continue
            if name not in cache:
                maker = self.molecule_relax_maker if is_molecule(name) else self.relax_maker
                relax = maker.make(build(name))
                relax.append_name(f" {name} (competing phase)")
                cache[name] = relax
            phases[name] = cache[name]
        return phases

    def make(self, charged: Job, sites: Any, phases: dict[str, Job], metal: Job) -> Job:
        """The E_hull job of one pair: ``sites`` is the sites stage's output (a reference)."""
        jobs = [*phases.values(), metal]
        return stability(
            charged.output.structure,
            charged.output.output.energy,
            sites,
            [*phases, "metal"],
            [j.output.structure for j in jobs],
            [j.output.output.energy for j in jobs],
            self.user_entries,
        )
