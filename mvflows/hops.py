"""Distinct migration hops between the insertion sites of a host (pymatgen-analysis-diffusion).

The intercalant's lowest-energy site is spread over the host cell by the host's symmetry;
``MigrationGraph`` connects the sites closer than ``max_length`` and groups the hops into
symmetry-distinct ones. Each hop is named by its direction: in a chain structure (VS4)
a hop within 30° of the chain axis runs ``along-chain``, any other is ``between-S2`` (it
jumps between neighbouring S2 groups of adjacent chain segments). Hosts without chains
name hops ``hop-1``, ``hop-2`` ... by length.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from pymatgen.analysis.diffusion.neb.full_path_mapper import MigrationGraph
from pymatgen.analysis.diffusion.neb.pathfinder import MigrationHop
from pymatgen.core import Structure
from pymatgen.symmetry.analyzer import SpacegroupAnalyzer


@dataclass
class DistinctHop:
    hop: MigrationHop
    kind: str
    length_a: float
    label: int  # MigrationGraph's hop label (shared by symmetry-equivalent hops)


def sites_structure(
    host: Structure, intercalant: str, frac_coords: list[float], symprec: float = 0.1
) -> Structure:
    """Host plus the intercalant on every position equivalent (by the host's symmetry) to ``frac_coords``."""
    ops = SpacegroupAnalyzer(host, symprec=symprec).get_symmetry_operations()
    positions: list[np.ndarray] = []
    for op in ops:
        f = op.operate(frac_coords) % 1.0
        if not any(
            np.linalg.norm(host.lattice.get_cartesian_coords(((f - g + 0.5) % 1.0) - 0.5)) < 0.3
            for g in positions
        ):
            positions.append(f)
    s = host.copy()
    for f in positions:
        s.append(intercalant, f)
    return s


def chain_axis(host: Structure, metal: str, max_bond: float = 3.4) -> np.ndarray | None:
    """Unit vector of the metal chains (shortest metal-metal contact), or None without chains."""
    metal_sites = [s for s in host if s.specie.symbol == metal]
    if not metal_sites:
        return None
    neighbours = host.get_neighbors(metal_sites[0], max_bond)
    same = sorted((n for n in neighbours if n.specie.symbol == metal), key=lambda n: n.nn_distance)
    if not same:
        return None
    vec = same[0].coords - metal_sites[0].coords
    return vec / np.linalg.norm(vec)


def distinct_hops(
    host: Structure,
    intercalant: str,
    site_frac: list[float],
    max_length: float = 5.0,
    chain_metal: str | None = None,
    min_length: float = 0.0,
    full: Structure | None = None,
) -> list[DistinctHop]:
    """Symmetry-distinct hops between equivalent insertion sites, shortest first.

    Hops shorter than ``min_length`` (split sites of one cavity) are left out. ``full`` is
    the structure with every site occupied when it is known (the fully discharged cell
    of the vacancy limit); otherwise the site is spread over ``host`` by its symmetry.
    """
    full = full if full is not None else sites_structure(host, intercalant, site_frac)
    graph = MigrationGraph.with_distance(full, intercalant, max_distance=max_length)
    axis = chain_axis(host, chain_metal) if chain_metal else None
    hops = []
    for label, info in graph.unique_hops.items():
        hop = info["hop"]
        length = float(hop.length)
        if length < min_length:
            continue
        hops.append(DistinctHop(hop=hop, kind="", length_a=length, label=int(label)))
    hops.sort(key=lambda h: h.length_a)
    for i, h in enumerate(hops):
        h.kind = _kind(h.hop, axis, i)
    return hops


def _kind(hop: MigrationHop, axis: np.ndarray | None, index: int) -> str:
    if axis is None:
        return f"hop-{index + 1}"
    vec = hop.esite.coords - hop.isite.coords
    cos = abs(float(np.dot(vec, axis) / np.linalg.norm(vec)))
    return "along-chain" if cos > np.cos(np.radians(30)) else "between-S2"


def percolating_barrier(
    host: Structure,
    intercalant: str,
    site_frac: list[float] | None,
    max_length: float,
    barriers: dict[int, float],
    full: Structure | None = None,
) -> float | None:
    """Lowest barrier at which hops with known barriers connect a site to its periodic image.

    ``barriers`` maps MigrationGraph hop labels to barriers (eV); hops without one are
    left out. Uses MigrationGraph.get_path, which yields only percolating paths. ``full``
    as for :func:`distinct_hops`.
    """
    full = full if full is not None else sites_structure(host, intercalant, site_frac)
    graph = MigrationGraph.with_distance(full, intercalant, max_distance=max_length)
    for label in graph.unique_hops:
        value = barriers.get(label, np.inf)  # hops without a computed barrier never connect
        graph.add_data_to_similar_edges(label, {"barrier": value})
        graph.unique_hops[label]["barrier"] = value
    graph.assign_cost_to_graph(cost_keys=["barrier"])
    for threshold in sorted(set(barriers.values())):
        if any(True for _ in graph.get_path(max_val=threshold + 1e-9)):
            return float(threshold)
    return None
