"""Site preference and voltage jobs: pure functions of relaxed energies."""

from __future__ import annotations

from jobflow import job
from pymatgen.core import Structure

from mvflows.electrochemistry import framework_units, insertion_pair, ion_charge
from mvflows.schemas import SiteEnergyDocument, VoltageDocument


@job(output_schema=SiteEnergyDocument)
def site_energy(
    intercalant: str, tet_structure: Structure, tet_energy: float, oct_structure: Structure, oct_energy: float
) -> SiteEnergyDocument:
    """ΔE_site = E(oct) - E(tet) per ion; the stable site comes from the energies alone."""
    if tet_structure.composition != oct_structure.composition:
        raise ValueError(
            f"tet and oct cells differ in composition: {tet_structure.composition} vs {oct_structure.composition}"
        )
    n_ion = tet_structure.composition[intercalant]
    e_tet, e_oct = tet_energy / n_ion, oct_energy / n_ion
    delta = e_oct - e_tet
    stable = "tet" if delta > 0 else "oct"
    e_stable = tet_energy if stable == "tet" else oct_energy
    return SiteEnergyDocument(
        energy_tet_ev_per_ion=e_tet,
        energy_oct_ev_per_ion=e_oct,
        delta_e_site_ev=delta,
        stable_site=stable,
        energy_discharged_ev_per_fu=e_stable / framework_units(tet_structure.composition, intercalant),
    )


@job(output_schema=VoltageDocument)
def voltage(
    intercalant: str,
    charged_structure: Structure,
    charged_energy: float,
    discharged_structure: Structure,
    site: SiteEnergyDocument,
    metal_structure: Structure,
    metal_energy: float,
) -> VoltageDocument:
    """Average voltage of B2S4 + x A -> AxB2S4 against the relaxed metal, with capacity."""
    discharged_comp = discharged_structure.composition
    n_disc = framework_units(discharged_comp, intercalant)
    n_chg = framework_units(charged_structure.composition, intercalant)
    e_metal = metal_energy / len(metal_structure)
    pair = insertion_pair(
        charged_structure.composition / n_chg,
        charged_energy / n_chg,
        discharged_comp / n_disc,
        site.energy_discharged_ev_per_fu,
        intercalant,
        e_metal,
    )
    capacity = float(pair.mAh / pair.mass_discharge)
    return VoltageDocument(
        voltage_v=float(pair.voltage),
        capacity_mah_g=capacity,
        specific_energy_wh_kg=float(pair.voltage) * capacity,
        x=discharged_comp[intercalant] / n_disc,
        ion_charge=ion_charge(intercalant),
        energy_charged_ev_per_fu=charged_energy / n_chg,
        energy_discharged_ev_per_fu=site.energy_discharged_ev_per_fu,
        energy_metal_ev_per_atom=e_metal,
    )
