"""Normal AB2S4 spinels (Fd-3m) with A on tetrahedral 8a or octahedral 16c sites.

Positions are generated in origin choice 1 of Fd-3m (the setting of pymatgen's
``from_spacegroup``): A (8a) at (0,0,0), B (16d) at (5/8,5/8,5/8), S (32e) at
(x,x,x) with x = u + 1/8, empty octahedral 16c at (1/8,1/8,1/8). Every structure is
then written in one fixed fcc primitive basis, so that the fractional coordinates of
the 8a and 16c voids are the same in every host, relaxed or not (both are Wyckoff
positions without a free parameter).
"""

from __future__ import annotations

import numpy as np
from pymatgen.core import Element, Lattice, Structure

SPINEL_REDOX_METALS = ("Ti", "V", "Cr", "Mn", "Fe", "Co", "Ni")
SPINEL_ANION = "S"

# Starting cubic lattice constants (Å) of the sulfide framework by redox metal, near the
# known thiospinels (MgCr2S4 10.12, ZnCr2S4 9.98, MgTi2S4 ~10.2); relaxation does the rest.
_FRAMEWORK_A = {"Ti": 10.20, "V": 10.05, "Cr": 10.05, "Mn": 10.25, "Fe": 10.00, "Co": 9.90, "Ni": 9.85}
_INTERCALANT_DA = {"Mg": 0.05, "Zn": 0.0, "Ca": 0.35, "Y": 0.35, "Al": -0.05}
_U_ORIGIN2 = 0.26

_PRIMITIVE_BASIS = 0.5 * np.array([[0.0, 1.0, 1.0], [1.0, 0.0, 1.0], [1.0, 1.0, 0.0]])


def lattice_constant(redox_metal: str, intercalant: str | None = None) -> float:
    """Starting cubic lattice constant (Å) of an (A)B2S4 spinel."""
    return _FRAMEWORK_A[redox_metal] + (_INTERCALANT_DA.get(intercalant, 0.2) if intercalant else 0.0)


def _orbits(coords: dict[str, tuple[float, float, float]]) -> dict[str, np.ndarray]:
    """Fractional coordinates (primitive basis) of Wyckoff orbits of Fd-3m, deduplicated.

    One ``from_spacegroup`` call for all orbits: building pymatgen's Fd-3m group takes
    ~0.7 s, and this runs at import of every ``mvflows`` command.
    """
    labels = list(coords)
    dummies = ["H", "He", "Li", "Be"][: len(labels)]  # one species per orbit, to split them again
    conv = Structure.from_spacegroup("Fd-3m", Lattice.cubic(10.0), dummies, [coords[k] for k in labels])
    out = {}
    for label, dummy in zip(labels, dummies, strict=True):
        cart = np.array([site.coords for site in conv if site.specie.symbol == dummy])
        frac = np.round((cart @ np.linalg.inv(_PRIMITIVE_BASIS * 10.0)) % 1.0, 8) % 1.0
        unique: list[np.ndarray] = []
        for f in frac:
            if not any(np.allclose(_wrap(f - g), 0, atol=1e-6) for g in unique):
                unique.append(f)
        out[label] = np.array(sorted(unique, key=tuple))
    return out


def _wrap(d: np.ndarray) -> np.ndarray:
    return d - np.round(d)


# Void and framework positions in the primitive basis (the lattice constant does not
# matter for fractions): 8a tet (2 per primitive cell), 16c oct (4), 16d B (4), 32e S (8).
_ORBITS = _orbits(
    {
        "8a": (0.0, 0.0, 0.0),
        "16c": (0.125, 0.125, 0.125),
        "16d": (0.625, 0.625, 0.625),
        "32e": (_U_ORIGIN2 + 0.125,) * 3,
    }
)
TET_SITES, OCT_SITES, _B_SITES, _S_SITES = (_ORBITS[k] for k in ("8a", "16c", "16d", "32e"))

# Half of the 16c sites for A at composition AB2S4: in the 14-atom cell the four 16c
# sites form one regular tetrahedron, so every pair is equally spread; take the first.
OCT_ORDERING = (0, 1)


def _check(redox_metal: str, intercalant: str | None) -> None:
    if redox_metal not in SPINEL_REDOX_METALS:
        raise ValueError(f"{redox_metal!r} is not a spinel redox metal ({', '.join(SPINEL_REDOX_METALS)})")
    if intercalant is not None:
        Element(intercalant)  # raises ValueError on unknown symbols


def _build(redox_metal: str, a: float, a_species: str | None, a_sites: np.ndarray) -> Structure:
    lattice = Lattice(_PRIMITIVE_BASIS * a)
    species: list[str] = []
    coords: list[np.ndarray] = []
    if a_species is not None:
        species += [a_species] * len(a_sites)
        coords += list(a_sites)
    species += [redox_metal] * len(_B_SITES) + [SPINEL_ANION] * len(_S_SITES)
    coords += list(_B_SITES) + list(_S_SITES)
    return Structure(lattice, species, coords)


def charged_spinel(redox_metal: str, a: float | None = None) -> Structure:
    """Empty B2S4 spinel framework, the charged cathode (12-atom primitive cell)."""
    _check(redox_metal, None)
    return _build(redox_metal, a or lattice_constant(redox_metal), None, TET_SITES)


def tetrahedral_spinel(intercalant: str, redox_metal: str, a: float | None = None) -> Structure:
    """Normal spinel AB2S4 with A on tetrahedral 8a (14-atom primitive cell, Fd-3m)."""
    _check(redox_metal, intercalant)
    return _build(redox_metal, a or lattice_constant(redox_metal, intercalant), intercalant, TET_SITES)


def octahedral_spinel(intercalant: str, redox_metal: str, a: float | None = None) -> Structure:
    """AB2S4 with A on half of the octahedral 16c sites, evenly spread (14 atoms)."""
    _check(redox_metal, intercalant)
    sites = OCT_SITES[list(OCT_ORDERING)]
    return _build(redox_metal, a or lattice_constant(redox_metal, intercalant), intercalant, sites)


def spinel_redox_metal(host: str) -> str:
    """The B of a B2S4 spinel host formula such as 'Cr2S4', or a one-line ValueError."""
    from pymatgen.core import Composition

    try:
        comp = Composition(host)
    except (ValueError, KeyError) as exc:
        raise ValueError(f"cannot read host formula {host!r}: {exc}") from None
    for el in comp.elements:
        try:
            Element(el.symbol)
        except (ValueError, KeyError):
            raise ValueError(f"unknown element {el.symbol!r}") from None
    metals = [el.symbol for el in comp.elements if el.symbol != SPINEL_ANION]
    if len(metals) != 1 or comp[SPINEL_ANION] != 4 or comp[metals[0]] != 2:
        raise ValueError(f"host {host!r} is not a B2S4 spinel framework (e.g. Cr2S4)")
    if metals[0] not in SPINEL_REDOX_METALS:
        raise ValueError(
            f"{metals[0]!r} in {host!r} is not a supported spinel redox metal "
            f"({', '.join(SPINEL_REDOX_METALS)})"
        )
    return metals[0]


def void_centre(structure: Structure, frac_guess: np.ndarray, n_anions: int) -> np.ndarray:
    """Centre of the ``n_anions`` anions nearest to a guessed void (fractional coordinates).

    Corrects the nominal Wyckoff position for the small drift a relaxation may bring.
    """
    cart_guess = structure.lattice.get_cartesian_coords(frac_guess)
    neighbours = [
        n for n in structure.get_sites_in_sphere(cart_guess, 4.0) if n.specie.symbol == SPINEL_ANION
    ]
    neighbours.sort(key=lambda n: n.nn_distance)
    if len(neighbours) < n_anions:
        raise ValueError(f"only {len(neighbours)} anions near the void at {frac_guess}")
    centre = np.mean([n.coords for n in neighbours[:n_anions]], axis=0)
    return structure.lattice.get_fractional_coords(centre)
