"""Normal AB2X4 spinels (Fd-3m, X = O, S, Se, Te) with A on tetrahedral 8a or octahedral 16c sites.

Positions are generated in origin choice 1 of Fd-3m (the setting of pymatgen's
``from_spacegroup``): A (8a) at (0,0,0), B (16d) at (5/8,5/8,5/8), X (32e) at
(x,x,x) with x = u + 1/8, empty octahedral 16c at (1/8,1/8,1/8). Every structure is
then written in one fixed fcc primitive basis, so that the fractional coordinates of
the 8a and 16c voids are the same in every host, relaxed or not (both are Wyckoff
positions without a free parameter).

Starting lattice constants come from Shannon's ionic radii (pymatgen), not a table:
the charged B2X4 from the B-X bond of its octahedra, a discharged AB2X4 from O'Neill and
Navrotsky's relation between the tetrahedral A-X and octahedral B-X bonds and the cubic
edge (Am. Mineral. 68 (1983) 181). The relaxation does the rest.
"""

from __future__ import annotations

import functools
import math

import numpy as np
from pymatgen.core import Composition, Element, Lattice, Structure

# the seven B of the sulfur-spinel study (Ti ... Ni); any B that balances the charge works
SPINEL_REDOX_METALS = ("Ti", "V", "Cr", "Mn", "Fe", "Co", "Ni")
SPINEL_ANIONS = ("O", "S", "Se", "Te")
_U_ORIGIN2 = 0.26

_PRIMITIVE_BASIS = 0.5 * np.array([[0.0, 1.0, 1.0], [1.0, 0.0, 1.0], [1.0, 1.0, 0.0]])


def _radius(element: str, charge: float, coordination: str) -> float:
    """Shannon radius (Å) of an ion, at the nearest listed oxidation state and coordination."""
    states = [charge] if float(charge).is_integer() else [math.floor(charge), math.ceil(charge)]
    radii = [r for r in (_listed_radius(element, int(st), coordination) for st in states) if r is not None]
    if not radii:  # no Shannon radius at this state (e.g. a hypothetical B4+): the closest listed state
        known = sorted(_shannon_states(element), key=lambda st: abs(st - charge))
        found = [r for r in (_listed_radius(element, st, coordination) for st in known) if r is not None]
        if not found:
            raise ValueError(f"no ionic radius of {element} to start a lattice from")
        return found[0]
    return float(np.mean(radii))


def _listed_radius(element: str, state: int, coordination: str) -> float | None:
    """Shannon's radius at the wanted coordination or the nearest listed one (high spin first)."""
    table = Element(element).data.get("Shannon radii", {}).get(str(state), {})
    for cn in (coordination, "VI", "IV", "VIII", "V", "VII", "IX", "III", "II"):
        by_spin = table.get(cn, {})
        for spin in ("", "High Spin", "Low Spin"):
            if spin in by_spin:
                return float(by_spin[spin]["ionic_radius"])
    return None


@functools.cache
def _shannon_states(element: str) -> tuple[int, ...]:
    return tuple(int(k) for k in Element(element).data.get("Shannon radii", {}))


def b_oxidation_state(intercalant: str | None, x: float = 1.0) -> float:
    """Average B oxidation state of A_x B2X4 (X2-): (8 - x z) / 2; +4 in the empty host."""
    from mvflows.electrochemistry import ion_charge

    return (8 - (x * ion_charge(intercalant) if intercalant else 0)) / 2


def lattice_constant(redox_metal: str, intercalant: str | None = None, anion: str = "S") -> float:
    """Starting cubic lattice constant (Å) of an (A)B2X4 spinel, from ionic radii.

    Empty host: a = d(B-X) / d(B-X at a = 1) in this module's cell. With A on 8a:
    a = 2.0995 R_AX + sqrt(5.8182 R_BX^2 - 1.4107 R_AX^2) (O'Neill and Navrotsky, 1983).
    """
    r_x = _radius(anion, -2, "VI")
    r_bx = _radius(redox_metal, b_oxidation_state(intercalant), "VI") + r_x
    if intercalant is None:
        return r_bx / _UNIT_BOND_BX
    from mvflows.electrochemistry import ion_charge

    r_ax = _radius(intercalant, ion_charge(intercalant), "IV") + r_x
    return 2.0995 * r_ax + math.sqrt(max(5.8182 * r_bx**2 - 1.4107 * r_ax**2, 0.0))


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

# B-X bond length of this module's cell at a = 1 (the lattice constant scales it)
_UNIT_BOND_BX = float(
    np.min(np.linalg.norm(((_S_SITES - _B_SITES[0] + 0.5) % 1.0 - 0.5) @ _PRIMITIVE_BASIS, axis=1))
)

# Half of the 16c sites for A at composition AB2S4: in the 14-atom cell the four 16c
# sites form one regular tetrahedron, so every pair is equally spread; take the first.
OCT_ORDERING = (0, 1)


def _build(redox_metal: str, anion: str, a: float, a_species: str | None, a_sites: np.ndarray) -> Structure:
    lattice = Lattice(_PRIMITIVE_BASIS * a)
    species: list[str] = []
    coords: list[np.ndarray] = []
    if a_species is not None:
        species += [a_species] * len(a_sites)
        coords += list(a_sites)
    species += [redox_metal] * len(_B_SITES) + [anion] * len(_S_SITES)
    coords += list(_B_SITES) + list(_S_SITES)
    return Structure(lattice, species, coords)


def charged_spinel(redox_metal: str, a: float | None = None, anion: str = "S") -> Structure:
    """Empty B2X4 spinel framework, the charged cathode (12-atom primitive cell)."""
    check_spinel(redox_metal, anion)
    return _build(redox_metal, anion, a or lattice_constant(redox_metal, None, anion), None, TET_SITES)


def tetrahedral_spinel(
    intercalant: str, redox_metal: str, a: float | None = None, anion: str = "S"
) -> Structure:
    """Normal spinel AB2X4 with A on tetrahedral 8a (14-atom primitive cell, Fd-3m)."""
    check_spinel(redox_metal, anion, intercalant)
    a = a or lattice_constant(redox_metal, intercalant, anion)
    return _build(redox_metal, anion, a, intercalant, TET_SITES)


def octahedral_spinel(
    intercalant: str, redox_metal: str, a: float | None = None, anion: str = "S"
) -> Structure:
    """AB2X4 with A on half of the octahedral 16c sites, evenly spread (14 atoms)."""
    check_spinel(redox_metal, anion, intercalant)
    a = a or lattice_constant(redox_metal, intercalant, anion)
    return _build(redox_metal, anion, a, intercalant, OCT_SITES[list(OCT_ORDERING)])


def check_spinel(redox_metal: str, anion: str = "S", intercalant: str | None = None) -> None:
    """Raise a one-line ValueError unless A B2X4 can balance its charge at full discharge.

    X must be a chalcogen (2-), B a metal. With A^z on every 8a site, B must reach the
    average state (8 - z)/2: +3 for Mg, Ca, Zn; +3.5 for Li, Na (B3+ and B4+ both listed);
    +2.5 for Al, Y. The empty host's B4+ is not required: hosts such as Sc2S4 exist only
    discharged (their charged state would oxidise the anion), and are screened anyway.
    """
    if anion not in SPINEL_ANIONS:
        raise ValueError(f"spinel anion must be one of {', '.join(SPINEL_ANIONS)}, not {anion!r}")
    try:
        element = Element(redox_metal)
    except (ValueError, KeyError):
        raise ValueError(f"unknown element {redox_metal!r}") from None
    if not element.is_metal:
        raise ValueError(f"{redox_metal!r} is not a metal and cannot be the B of a spinel")
    if intercalant is None:
        return
    Element(intercalant)  # raises ValueError on unknown symbols
    need = b_oxidation_state(intercalant)
    have = sorted(s for s in element.oxidation_states if s > 0)
    reachable = math.floor(need) in have and math.ceil(need) in have
    if not reachable:
        raise ValueError(
            f"{intercalant}{redox_metal}2{anion}4 cannot balance its charge: {redox_metal} would need "
            f"+{need:g} (its oxidation states: {', '.join(f'+{s}' for s in have) or 'none'})"
        )


def spinel_parts(host: str) -> tuple[str, str]:
    """(B, X) of a B2X4 spinel host formula such as 'Cr2S4' or 'Mn2O4', or a one-line ValueError."""
    try:
        comp = Composition(host)
    except (ValueError, KeyError) as exc:
        raise ValueError(f"cannot read host formula {host!r}: {exc}") from None
    for el in comp.elements:
        try:
            Element(el.symbol)
        except (ValueError, KeyError):
            raise ValueError(f"unknown element {el.symbol!r}") from None
    anions = [el.symbol for el in comp.elements if el.symbol in SPINEL_ANIONS]
    metals = [el.symbol for el in comp.elements if el.symbol not in SPINEL_ANIONS]
    if len(anions) != 1 or len(metals) != 1 or comp[anions[0]] != 4 or comp[metals[0]] != 2:
        raise ValueError(f"host {host!r} is not a B2X4 spinel framework with X in O, S, Se, Te (e.g. Cr2S4)")
    check_spinel(metals[0], anions[0])
    return metals[0], anions[0]


def spinel_redox_metal(host: str) -> str:
    """The B of a B2X4 spinel host formula (see :func:`spinel_parts`)."""
    return spinel_parts(host)[0]


def spinel_name(host: str) -> str:
    """The host formula written B2X4 whatever the user's order (S4Cr2 -> Cr2S4)."""
    b, x = spinel_parts(host)
    return f"{b}2{x}4"


def void_centre(
    structure: Structure, frac_guess: np.ndarray, n_anions: int, anion: str | None = None
) -> np.ndarray:
    """Centre of the ``n_anions`` anions nearest to a guessed void (fractional coordinates).

    Corrects the nominal Wyckoff position for the small drift a relaxation may bring.
    """
    anion = anion or spinel_anion(structure)
    cart_guess = structure.lattice.get_cartesian_coords(frac_guess)
    neighbours = [n for n in structure.get_sites_in_sphere(cart_guess, 4.0) if n.specie.symbol == anion]
    neighbours.sort(key=lambda n: n.nn_distance)
    if len(neighbours) < n_anions:
        raise ValueError(f"only {len(neighbours)} anions near the void at {frac_guess}")
    centre = np.mean([n.coords for n in neighbours[:n_anions]], axis=0)
    return structure.lattice.get_fractional_coords(centre)


def spinel_anion(structure: Structure) -> str:
    """The chalcogen of a spinel structure."""
    found = [el.symbol for el in structure.composition.elements if el.symbol in SPINEL_ANIONS]
    if len(found) != 1:
        raise ValueError(f"{structure.composition.reduced_formula} has no single spinel anion")
    return found[0]
