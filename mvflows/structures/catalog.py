"""Hosts a campaign can name: an AB2X4 spinel, a structure shipped in ``data/hosts.yaml``, or a file.

A :class:`Host` is what the pair graph needs to know of a host before anything is
computed: its starting structure, what one formula unit is (for voltages and
capacities per formula), its redox metal, whether it has metal chains (VS4's hops are
named along or across them) and, for a structure file that holds the intercalant, the
discharged cell whose ion sites are the insertion sites.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from monty.json import MSONable
from pymatgen.core import Composition, Structure

from mvflows.structures.spinel import charged_spinel, spinel_parts

Family = Literal["spinel", "host", "file"]


@dataclass
class Host(MSONable):
    """One charged host of a campaign, e.g. the spinel Cr2S4, the shipped VS4 or a user's file."""

    name: str
    formula: str  # one formula unit of the charged host
    redox_metal: str
    family: Family
    chain_metal: str | None = None  # metal whose chains name the hops (VS4), else None
    anion: str | None = None  # the spinel's chalcogen
    charged: Structure | None = None  # a file's host without the intercalant
    discharged: Structure | None = None  # a file holding the intercalant: its sites are the insertion sites
    site_ion: str | None = None  # the intercalant the discharged file holds

    def structure(self) -> Structure:
        """The unrelaxed charged host (spinel: the 12-atom primitive cell)."""
        if self.charged is not None:
            return self.charged.copy()
        if self.family == "spinel":
            return charged_spinel(self.redox_metal, anion=self.anion or "S")
        from mvflows.structures.hosts import host_structure

        return host_structure(self.name)

    def formula_units(self, composition: Composition, intercalant: str | None = None) -> float:
        """Host formula units in a cell of ``composition``, the intercalant left out (Cr4S8: 2 Cr2S4)."""
        formula = Composition(self.formula)
        element = formula.elements[0]
        frame = Composition({el: n for el, n in Composition(composition).items() if el.symbol != intercalant})
        return frame[element] / formula[element]

    def discharged_with(self, intercalant: str) -> Structure:
        """The file's discharged cell with the pair's intercalant on the file's ion sites."""
        if self.discharged is None or self.site_ion is None:
            raise ValueError(f"host {self.name} has no discharged cell")
        cell = self.discharged.copy()
        if intercalant != self.site_ion:
            cell.replace_species({self.site_ion: intercalant})
        return cell


def host_for(name: str, family: Family) -> Host:
    """The Host a campaign's name stands for (names are checked when the campaign is loaded)."""
    if family == "spinel":
        redox, anion = spinel_parts(name)
        return Host(
            name=f"{redox}2{anion}4",
            formula=f"{redox}2{anion}4",
            redox_metal=redox,
            family="spinel",
            anion=anion,
        )
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


def pair_label(host: Host, intercalant: str) -> str:
    """How job names call a pair: MgCr2S4 for a spinel, "Mg in VS4" for a host of any x."""
    return f"{intercalant}{host.name}" if host.family == "spinel" else f"{intercalant} in {host.name}"
