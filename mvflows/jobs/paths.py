"""NEBs between endpoints the user gives (``mvflows neb INITIAL FINAL``, a campaign's ``paths:``).

The endpoints are checked (same cell, same atoms in order, one ion moved) when they are
read; the moving ion goes last, as in every mvflows hop, and the band runs through the
same HopNebMaker as a campaign's hops: endpoints relaxed in the fixed cell (one of them
and its mirror image when the path is symmetric), the ion started on the straight line
through the midpoint, IDPP, mvflows' band.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from jobflow import Flow
from pymatgen.core import Structure

from mvflows.jobs.hop_neb import HopNebMaker
from mvflows.jobs.results import path_result
from mvflows.keys import KeyedMaker
from mvflows.neb_path import Hop
from mvflows.structures.files import check_endpoints


def ion_last(structure: Structure, index: int) -> Structure:
    """The same structure with site ``index`` moved to the end."""
    return Structure.from_sites([s for i, s in enumerate(structure) if i != index] + [structure[index]])


def path_hop(initial: Structure, final: Structure, name: str) -> Hop:
    """The Hop between two given endpoints (checked), the moving ion last."""
    mover = check_endpoints(initial, final, where=f"path {name}")
    start, end = ion_last(initial, mover), ion_last(final, mover)
    d = end.frac_coords[-1] - start.frac_coords[-1]
    d -= np.round(d)
    step = start.lattice.get_cartesian_coords(d)
    via = start.cart_coords[-1] + step / 2
    return Hop(
        start, end, [float(v) for v in via], f"{start[-1].specie} path {name}", float(np.linalg.norm(step))
    )


def _formula(structure: Structure) -> str:
    """The cell's formula as written in files, e.g. MgCr16S32."""
    return "".join(f"{el}{int(n) if n != 1 else ''}" for el, n in structure.composition.items())


@dataclass
class PathNebMaker(KeyedMaker):
    """The NEB of one given path, and its result document (stored like a pair's)."""

    name: str = "path NEB"
    neb: HopNebMaker = field(default_factory=HopNebMaker)
    campaign: str = "neb"
    settings_digest: str = ""
    calculator_label: str = "forcefield:SevenNet"

    def make(self, name: str, initial: Structure, final: Structure) -> Flow:
        hop = path_hop(initial, final, name)
        band = self.neb.make(hop, label=f" {name}")
        framework = Structure.from_sites(hop.start.sites[:-1])
        result = path_result(
            self.campaign,
            self.settings_digest,
            name,
            str(hop.start[-1].specie),
            framework.composition.reduced_formula,
            _formula(hop.start),
            self.calculator_label,
            band.output,
            {"neb": band.jobs[-1].uuid},
        )
        result.name = f"result path {name}"
        return Flow([band, result], output=result.output, name=f"path {name}")
