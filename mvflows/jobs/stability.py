"""The stability job: E_hull of the charged and discharged phases of one pair."""

from __future__ import annotations

from typing import Any

from jobflow import Response, job
from pymatgen.core import Structure

from mvflows.schemas import NebSummary, SiteEnergyDocument, StabilityDocument
from mvflows.stability import hull_energies


@job(output_schema=StabilityDocument)
def stability(
    charged_structure: Structure,
    charged_energy: float,
    discharged_structure: Structure,
    discharged_energy: float,
    phase_names: list[str],
    phase_structures: list[Structure],
    phase_energies: list[float],
    user_entries: list[dict[str, Any]] | None = None,
) -> StabilityDocument:
    """E_hull (eV/atom) of both phases against the relaxed prototypes and any user entries."""
    from pymatgen.core import Composition

    competing = [(n, s.composition, e) for n, s, e in zip(phase_names, phase_structures, phase_energies)]
    for row in user_entries or []:
        comp = Composition(row["formula"])
        competing.append((f"{comp.reduced_formula} ({row.get('source', 'user')})", comp,
                          row["energy_per_atom"] * comp.num_atoms))
    chemsys = {el.symbol for el in discharged_structure.composition.elements}
    competing = [c for c in competing if {el.symbol for el in c[1].elements} <= chemsys]
    result = hull_energies(
        {"charged": (charged_structure.composition, charged_energy),
         "discharged": (discharged_structure.composition, discharged_energy)},
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


@job
def discharged_of_spinel(
    site: SiteEnergyDocument, tet_structure: Structure, tet_energy: float, oct_structure: Structure, oct_energy: float
) -> dict[str, Any]:
    """The stable spinel arrangement (structure, energy) chosen by the site energies."""
    if site.stable_site == "tet":
        return {"structure": tet_structure, "energy": tet_energy}
    return {"structure": oct_structure, "energy": oct_energy}


@job  # no output_schema: the replacement's output is a reference until it runs
def spinel_neb_if_stable(
    stability_doc: StabilityDocument | None,
    max_e_hull_ev_atom: float,
    site: SiteEnergyDocument,
    host: Structure,
    intercalant: str,
    max_abs_delta_e_site_ev: float,
    neb_maker: Any,
) -> Response | NebSummary:
    """The spinel NEB gate (|dE_site|) preceded by the campaign's E_hull screen."""
    from mvflows.jobs.neb import neb_if_promising

    if stability_doc is not None:
        worst = max(stability_doc.e_hull_charged_ev_atom, stability_doc.e_hull_discharged_ev_atom)
        if worst > max_e_hull_ev_atom:
            return NebSummary(
                skipped_reason=f"E_hull = {worst:.3f} eV/atom > screen threshold {max_e_hull_ev_atom} eV/atom"
            )
    return neb_if_promising.original(site, host, intercalant, max_abs_delta_e_site_ev, neb_maker)
