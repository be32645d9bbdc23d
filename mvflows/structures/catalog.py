"""Hosts a campaign can name: the B2S4 spinel family, or a structure shipped in ``data/hosts.yaml``.

A :class:`Host` is what the pair graph needs to know of a host before anything is
computed: its starting structure, what one formula unit is (for voltages and
capacities per formula), its redox metal, and whether it has metal chains (VS4's hops are
named along or across them).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from monty.json import MSONable
from pymatgen.core import Composition, Structure

from mvflows.structures.spinel import charged_spinel, spinel_redox_metal

Family = Literal["spinel", "host"]


@dataclass
class Host(MSONable):
    """One charged host of a campaign, e.g. the spinel Cr2S4 or the shipped VS4."""

    name: str
    formula: str  # one formula unit of the charged host
    redox_metal: str
    family: Family
    chain_metal: str | None = None  # metal whose chains name the hops (VS4), else None

    def structure(self) -> Structure:
        """The unrelaxed charged host (spinel: the 12-atom primitive cell)."""
        if self.family == "spinel":
            return charged_spinel(self.redox_metal)
        from mvflows.structures.hosts import host_structure

        return host_structure(self.name)

    def formula_units(self, composition: Composition, intercalant: str | None = None) -> float:
        """Host formula units in a cell of ``composition``, the intercalant left out (Cr4S8: 2 Cr2S4)."""
        formula = Composition(self.formula)
        element = formula.elements[0]
        frame = Composition({el: n for el, n in Composition(composition).items() if el.symbol != intercalant})
        return frame[element] / formula[element]


def host_for(name: str, family: Family) -> Host:
    """The Host a campaign's name stands for (names are checked when the campaign is loaded)."""
    if family == "spinel":
        return Host(name=name, formula=name, redox_metal=spinel_redox_metal(name), family="spinel")
    from mvflows.structures.hosts import host_catalog

    entry = host_catalog()[name]
    metal = str(entry["redox_metal"])
    return Host(
        name=name,
        formula=str(entry["formula"]),
        redox_metal=metal,
        family="host",
        chain_metal=metal if entry.get("chain_axis") else None,
    )
