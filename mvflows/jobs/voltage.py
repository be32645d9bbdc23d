"""The voltage job: average voltage of host + x A -> AxHost, capacity, and the voltage of every step."""

from __future__ import annotations

import itertools

from pymatgen.core import Structure

from mvflows.electrochemistry import insertion_pair, ion_charge
from mvflows.keys import job
from mvflows.schemas import SitesDocument, VoltageDocument, VoltageStep
from mvflows.structures.catalog import Host


@job(output_schema=VoltageDocument)
def voltage(
    intercalant: str,
    host: Host,
    charged_structure: Structure,
    charged_energy: float,
    sites: SitesDocument,
    metal_structure: Structure,
    metal_energy: float,
) -> VoltageDocument:
    """Average voltage over the whole reaction against the relaxed metal, and per discharge step.

    Energies are per host formula unit; pymatgen's InsertionVoltagePair does the arithmetic
    V = [E(host) + x E(A) - E(AxHost)] / (x z), for the average and for every step.
    Capacity is gravimetric on the discharged mass.
    """
    e_metal = metal_energy / len(metal_structure)
    n0 = host.formula_units(charged_structure.composition, intercalant)
    points = [(0.0, charged_structure.composition / n0, charged_energy / n0)]
    for step in sites.discharge:
        n = host.formula_units(step.structure.composition, intercalant)
        points.append((step.x, step.structure.composition / n, step.energy_ev / n))
    _x0, c0, e0 = points[0]
    x1, c1, e1 = points[-1]
    whole = insertion_pair(c0, e0, c1, e1, intercalant, e_metal)
    profile = [
        VoltageStep(
            x_start=xa,
            x_end=xb,
            voltage_v=float(insertion_pair(ca, ea, cb, eb, intercalant, e_metal).voltage),
        )
        for (xa, ca, ea), (xb, cb, eb) in itertools.pairwise(points)
    ]
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
