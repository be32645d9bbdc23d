"""Voltage, capacity and site-energy arithmetic, on pymatgen's battery analysis."""

from __future__ import annotations

from pymatgen.apps.battery.insertion_battery import InsertionVoltagePair
from pymatgen.core import Composition, Element
from pymatgen.core.units import Charge, Time
from pymatgen.entries.computed_entries import ComputedEntry
from scipy.constants import N_A

# F in mAh/mol, computed exactly as pymatgen's InsertionVoltagePair does, so the capacity of
# a voltage job and of this formula agree to the last digit (26801.48 mAh/mol)
FARADAY_MAH_PER_MOL = float(Charge(1, "e").to("C") * Time(1, "s").to("h") * N_A * 1000)


def ion_charge(intercalant: str) -> int:
    """Charge carried per ion (2 for Mg, Ca, Zn; 3 for Y, Al), as pymatgen's electrodes use."""
    return abs(max(Element(intercalant).oxidation_states))


def insertion_pair(
    charged: Composition,
    e_charged: float,
    discharged: Composition,
    e_discharged: float,
    intercalant: str,
    e_metal_per_atom: float,
) -> InsertionVoltagePair:
    """pymatgen voltage pair for charged host + x A -> discharged (total energies, eV)."""
    metal = ComputedEntry(Composition(intercalant), e_metal_per_atom)
    return InsertionVoltagePair.from_entries(
        ComputedEntry(charged, e_charged), ComputedEntry(discharged, e_discharged), metal
    )


def gravimetric_capacity(discharged: str | Composition, intercalant: str, x: float | None = None) -> float:
    """C = x z F / M(discharged), mAh/g; x defaults to the ions per formula of ``discharged``."""
    comp = Composition(discharged)
    x = comp[intercalant] if x is None else x
    return float(x * ion_charge(intercalant) * FARADAY_MAH_PER_MOL / comp.weight)


def framework_units(composition: Composition, intercalant: str) -> float:
    """How many B2X4-type framework formula units a cell holds (B = the redox metal)."""
    frame = Composition({el: amt for el, amt in composition.items() if el.symbol != intercalant})
    factor = frame.get_reduced_composition_and_factor()[1]
    # a spinel framework B2S4 reduces to BS2: one B2S4 is two reduced units
    reduced = frame.reduced_composition
    return factor / 2 if reduced.num_atoms == 3 and len(reduced) == 2 else factor
