"""Candidate insertion sites where symmetry does not hand them over.

pymatgen-analysis-defects' ``VoronoiInterstitialGenerator`` (geometry only, no charge
density) proposes interstitial sites; it groups them by the host's symmetry, so each
candidate stands for one orbit of equivalent sites. Candidates closer than
``min_distance`` to any atom are dropped, and the rest are ranked by their free space
(distance to the nearest atom), largest first.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from pymatgen.core import Structure


@dataclass
class Candidate:
    """One symmetry-distinct interstitial site of a host."""

    frac_coords: list[float]
    multiplicity: int  # equivalent positions in the cell
    free_space_a: float  # distance to the nearest host atom (Å)
    equivalent_frac_coords: list[list[float]]


def candidate_sites(
    host: Structure,
    intercalant: str,
    max_candidates: int | None = None,
    min_distance: float = 1.8,
    clustering_tol: float = 0.75,
) -> list[Candidate]:
    """Symmetry-distinct interstitial sites of ``host`` for ``intercalant``, most spacious first."""
    from pymatgen.analysis.defects.generators import VoronoiInterstitialGenerator

    generator = VoronoiInterstitialGenerator(clustering_tol=clustering_tol, min_dist=min_distance)
    out: list[Candidate] = []
    for defect in generator.generate(host, insert_species=[intercalant]):
        frac = np.asarray(defect.site.frac_coords) % 1.0
        free = _free_space(host, frac)
        if free < min_distance:
            continue
        equivalents = [list(map(float, np.asarray(s.frac_coords) % 1.0)) for s in defect.equivalent_sites]
        out.append(Candidate(list(map(float, frac)), len(equivalents) or 1, free, equivalents))
    out.sort(key=lambda c: -c.free_space_a)
    return out[:max_candidates] if max_candidates else out


def _free_space(host: Structure, frac: np.ndarray) -> float:
    cart = host.lattice.get_cartesian_coords(frac)
    neighbours = host.get_sites_in_sphere(cart, 6.0)
    return float(min((n.nn_distance for n in neighbours), default=6.0))


def with_ion(host: Structure, intercalant: str, frac_coords: list[float]) -> Structure:
    """A copy of ``host`` with one ``intercalant`` appended (the last site)."""
    s = host.copy()
    s.append(intercalant, frac_coords)
    return s
