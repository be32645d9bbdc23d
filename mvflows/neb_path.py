"""Geometry of a dilute-limit hop in a spinel: endpoints, the void between, the images.

A tet-stable ion hops 8a -> 16c -> 8a (the 16c void is the midpoint); an oct-stable ion
hops 16c -> 8a -> 16c (a bent path). Either way the path passes through the other site
type, so the starting images follow the two straight legs through that void and are then
smoothed by IDPP.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
from pymatgen.core import Structure
from pymatgen.io.ase import AseAtomsAdaptor

from mvflows.structures.spinel import OCT_SITES, TET_SITES, void_centre

_ANIONS = {"tet": 4, "oct": 6}
_OTHER = {"tet": "oct", "oct": "tet"}


@dataclass
class Hop:
    """One hop of the mobile ion (always the last site of each endpoint), symmetric in an ideal spinel."""

    start: Structure
    end: Structure
    via: list[float]  # Cartesian position of the void passed on the way (Å)
    kind: str  # e.g. "tet-oct-tet"
    length: float  # path length through the void (Å)
    # the site type of the void at ``via`` when the path passes a site on the way (spinels: "oct" on
    # tet -> oct -> tet); None when ``via`` is only a point of the path (a direct hop, given endpoints)
    intermediate: str | None = None


def _supercell_sites(prim_frac: np.ndarray, supercell: tuple[int, int, int]) -> np.ndarray:
    shifts = np.array(list(itertools.product(*(range(n) for n in supercell))))
    return np.array([(f + s) / np.array(supercell) for f in prim_frac for s in shifts])


def _nearest(
    cell: Structure,
    origin: np.ndarray,
    candidates_frac: np.ndarray,
    exclude: list[np.ndarray],
    min_d: float = 0.3,
) -> np.ndarray:
    """Cartesian position (unwrapped next to ``origin``) of the nearest candidate void."""
    best, best_d = None, np.inf
    for frac in candidates_frac:
        cart = cell.lattice.get_cartesian_coords(frac)
        vec = _min_image(cell, cart - origin)
        pos = origin + vec
        if any(np.linalg.norm(pos - e) < 0.3 for e in exclude):
            continue
        d = np.linalg.norm(vec)
        if min_d <= d < best_d - 1e-6:
            best, best_d = pos, d
    if best is None:
        raise ValueError("no neighbouring void found")
    return best


def _min_image(cell: Structure, vec: np.ndarray) -> np.ndarray:
    frac = cell.lattice.get_fractional_coords(vec)
    return cell.lattice.get_cartesian_coords(frac - np.round(frac))


def _refine(cell: Structure, cart: np.ndarray, site: str) -> np.ndarray:
    """Snap a void to the centre of its anion polyhedron, keeping it unwrapped."""
    frac = void_centre(cell, cell.lattice.get_fractional_coords(cart), _ANIONS[site])
    centre = cell.lattice.get_cartesian_coords(frac)
    return cart + _min_image(cell, centre - cart)


def spinel_hop(
    host: Structure, intercalant: str, stable_site: str, supercell: tuple[int, int, int] = (2, 2, 2)
) -> Hop:
    """Endpoints of one hop between neighbouring ``stable_site`` voids of a relaxed B2S4 host.

    ``host`` is the relaxed primitive charged host as built by mvflows' spinel builders,
    whose 8a/16c voids keep their fractional coordinates through a relaxation.
    """
    cell = host.copy()
    cell.make_supercell(list(supercell))
    sites = {"tet": _supercell_sites(TET_SITES, supercell), "oct": _supercell_sites(OCT_SITES, supercell)}
    other = _OTHER[stable_site]
    centre = cell.lattice.get_cartesian_coords([0.5, 0.5, 0.5])
    start = _refine(cell, _nearest(cell, centre, sites[stable_site], [], min_d=0.0), stable_site)
    via = _refine(cell, _nearest(cell, start, sites[other], []), other)
    # a tet end: the 16c void is the inversion centre of the 8a pair
    end_guess = 2 * via - start if stable_site == "tet" else _nearest(cell, via, sites["oct"], [start])
    end = _refine(cell, end_guess, stable_site)
    # legs differ when the host's relaxation broke the spinel symmetry (CHGNet on Cr2S4: 2.051
    # and 1.973 Å); the hop is still the right one, its ends are then relaxed separately (no
    # mirror) and the NEB summary flags endpoints of unequal energy
    legs = (np.linalg.norm(via - start), np.linalg.norm(end - via))
    structures = []
    for pos in (start, end):
        s = cell.copy()
        s.append(intercalant, pos, coords_are_cartesian=True)
        structures.append(s)
    return Hop(
        start=structures[0],
        end=structures[1],
        via=[float(v) for v in via],
        kind=f"{stable_site}-{other}-{stable_site}",
        length=float(sum(legs)),
        intermediate=other,
    )


def spinel_vacancy_hop(
    discharged: Structure, intercalant: str, stable_site: str, supercell: tuple[int, int, int] = (2, 2, 2)
) -> Hop:
    """The vacancy-limit hop: one vacancy in the fully discharged supercell, a neighbour hops into it.

    ``discharged`` is the relaxed AB2X4 cell with A on its stable sites (the sites stage's
    full-discharge cell). The ion nearest the supercell's centre moves through the nearest
    void of the other type to the occupied site beyond it, which is left empty: the
    endpoints differ only by which of the two sites is vacant, so the hop is symmetric in a
    normal spinel (the 16c void between two 8a sites is an inversion centre).
    """
    cell = discharged.copy()
    cell.make_supercell(list(supercell))
    ions = [i for i, site in enumerate(cell) if site.specie.symbol == intercalant]
    if len(ions) < 2:
        raise ValueError(f"a vacancy hop needs two {intercalant} ions in the supercell, found {len(ions)}")
    other = _OTHER[stable_site]
    centre = cell.lattice.get_cartesian_coords([0.5, 0.5, 0.5])
    first = min(ions, key=lambda i: np.linalg.norm(_min_image(cell, cell[i].coords - centre)))
    start = centre + _min_image(cell, cell[first].coords - centre)
    voids = _supercell_sites(TET_SITES if other == "tet" else OCT_SITES, supercell)
    best = None
    for frac in voids:
        via = start + _min_image(cell, cell.lattice.get_cartesian_coords(frac) - start)
        leg = np.linalg.norm(via - start)
        if leg > 3.5:  # voids next to the ion only (A-void distances in spinels are 1.8-2.5 Å)
            continue
        via = _refine(cell, via, other)
        for j in ions:
            if j == first:
                continue
            end = via + _min_image(cell, cell[j].coords - via)
            # the far site must be reached through the void, not past it: both legs of similar length
            legs = (np.linalg.norm(via - start), np.linalg.norm(end - via))
            if abs(legs[0] - legs[1]) > 0.5 or np.linalg.norm(end - start) < 1.0:
                continue
            length = sum(legs)
            if best is None or length < best[0] - 1e-6:
                best = (length, via, j, end)
    if best is None:
        raise ValueError(f"no occupied {stable_site} site next to a {other} void of the discharged supercell")
    length, via, last, end = best
    framework = cell.copy()
    framework.remove_sites([first, last])
    structures = []
    for pos in (start, end):
        s = framework.copy()
        s.append(intercalant, pos, coords_are_cartesian=True)
        structures.append(s)
    return Hop(
        start=structures[0],
        end=structures[1],
        via=[float(v) for v in via],
        kind=f"{stable_site}-{other}-{stable_site} (vacancy)",
        length=float(length),
        intermediate=other,
    )


def hop_images(
    start: Structure,
    end: Structure,
    via: list[float],
    n_images: int,
    idpp: bool = True,
    idpp_fmax: float = 0.1,
) -> list[Structure]:
    """``n_images`` moving images between relaxed endpoints, through ``via``, IDPP-smoothed.

    The mobile ion (last site) follows the two straight legs start -> via -> end at equal
    spacing in path length; framework atoms are interpolated linearly (minimum image).
    """
    if len(start) != len(end) or start.species != end.species:
        raise ValueError("endpoints must hold the same atoms in the same order")
    path = start.interpolate(end, nimages=n_images + 1, pbc=True, autosort_tol=0)
    lattice = start.lattice
    p0 = start.cart_coords[-1]
    via_c = p0 + _min_image(start, np.asarray(via) - p0)
    p1 = via_c + _min_image(start, end.cart_coords[-1] - via_c)
    l0, l1 = np.linalg.norm(via_c - p0), np.linalg.norm(p1 - via_c)
    images = []
    for k, image in enumerate(path):
        s = (l0 + l1) * k / (n_images + 1)
        pos = p0 + (via_c - p0) * (s / l0) if s <= l0 else via_c + (p1 - via_c) * ((s - l0) / l1)
        image = image.copy()
        image.replace(len(image) - 1, image[-1].species, lattice.get_fractional_coords(pos))
        images.append(image)
    if idpp and n_images > 1:
        images = _idpp(images, idpp_fmax)
    return images


def _idpp(images: list[Structure], fmax: float = 0.1) -> list[Structure]:
    """Image-dependent pair potential smoothing of the framework around the moving ion (ASE).

    The mobile ion (last site) is held on its path during IDPP: left free, IDPP pulls a
    bent oct -> tet -> oct path towards the straight line, which crosses the shared
    octahedral edge (measured: a 2.1 eV hump for Mg in Ti2S4 instead of passing the
    tetrahedral void), and the NEB then spends hundreds of steps undoing it.
    """
    from ase.constraints import FixAtoms
    from ase.mep.neb import idpp_interpolate

    atoms = [AseAtomsAdaptor.get_atoms(s) for s in images]
    for a in atoms:
        a.set_constraint(FixAtoms(indices=[len(a) - 1]))
    # fmax 0.1 on the IDPP surface: 1.4 s for the 97-atom spinel band (few or no steps: the
    # two-leg path through the void is already close), 9.4 s at 0.05, and the NEB from it
    # needed no more force calls (Mg in Cr2S4, benchmarks/neb.py)
    idpp_interpolate(atoms, traj=None, log=None, fmax=fmax, mic=True, steps=200)
    for a in atoms:
        a.set_constraint()
    return [AseAtomsAdaptor.get_structure(a) for a in atoms]


def hop_mirror(hop: Hop):
    """The isometry of the supercell that swaps the hop's endpoints and fixes its void, or None.

    Found on the unrelaxed endpoints (:func:`mvflows.neb_band.find_mirror`); the Maker asks
    this at build time to decide whether one endpoint relax is enough.
    """
    from mvflows.neb_band import find_mirror

    first, last = AseAtomsAdaptor.get_atoms(hop.start), AseAtomsAdaptor.get_atoms(hop.end)
    middle = first.copy()
    middle.positions[-1] = hop.via
    return find_mirror(first, last, middle)


def mirrored_endpoint(relaxed_start: Structure, hop: Hop) -> Structure | None:
    """The relaxed end of a symmetric hop as the symmetry image of the relaxed start.

    Start and end of a symmetric hop are related by an isometry of the supercell that
    fixes the void in between (:func:`hop_mirror`); a relaxed structure maps onto a
    relaxed structure, so the second endpoint relax is not needed. None when the
    unrelaxed endpoints have no such map (then relax both).
    """
    mirror = hop_mirror(hop)
    if mirror is None:
        return None
    cell = np.array(relaxed_start.lattice.matrix)
    moved = mirror.positions(relaxed_start.cart_coords, hop.end.cart_coords, cell)
    props = {}
    for key, values in (relaxed_start.site_properties or {}).items():  # atom i becomes atom perm[i]
        props[key] = list(values)
        for i, j in enumerate(mirror.permutation):
            props[key][j] = values[i]
    return Structure(
        relaxed_start.lattice,
        relaxed_start.species,
        moved,
        coords_are_cartesian=True,
        site_properties=props or None,
    )


def _steps(images: list[Structure]) -> np.ndarray:
    """Minimum-image step length (Å) of every atom between consecutive images: (images - 1, atoms)."""
    frac = np.array([s.frac_coords for s in images])
    step = frac[1:] - frac[:-1]
    step -= np.round(step)
    cart = np.einsum("isk,kl->isl", step, images[0].lattice.matrix)  # an NEB keeps the lattice
    return np.linalg.norm(cart, axis=2)


def migrating_site(images: list[Structure]) -> int:
    """Index of the migrating ion: the site that moves most over the whole band."""
    return int(np.argmax(_steps(images).sum(axis=0)))


def ion_path_a(images: list[Structure]) -> list[float]:
    """Distance (Å) the migrating ion has moved at each image along the band.

    The migrating ion is the site that moves most over the whole band
    (:func:`migrating_site`); its distance is the sum of its minimum-image steps between
    consecutive images, so a curved path (through an octahedral site) counts its full
    length, not the straight start-end line.
    """
    dist = _steps(images)
    site = int(np.argmax(dist.sum(axis=0)))
    return [0.0, *np.cumsum(dist[:, site]).tolist()]
