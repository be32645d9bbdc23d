"""Hosts and NEB endpoints from the user's structure files (CIF, POSCAR, pymatgen JSON, ...).

Every problem a file can have is found here, before anything is computed, and said in
one line that names the file: unreadable, partial occupancies, atoms on top of each
other, no metal that can be reduced, endpoints that do not belong together.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from pymatgen.core import Composition, Structure

from mvflows.structures.catalog import Host

MIN_DISTANCE_A = 0.7  # closer atoms are a broken file, not a structure


def read_structure(path: str | Path) -> Structure:
    """A periodic, ordered structure without overlapping atoms, or a one-line ValueError."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{path}: no such structure file")
    try:
        structure = Structure.from_file(str(path))
    except Exception as exc:  # noqa: BLE001 - pymatgen raises many types for an unreadable file
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
        raise ValueError(f"{path}: cannot read a structure ({first})") from None
    if not structure.is_ordered:
        raise ValueError(f"{path}: partial occupancies; mvflows needs an ordered cell (one element per site)")
    if len(structure) > 1:
        d = structure.distance_matrix + np.eye(len(structure)) * 1e9
        i, j = np.unravel_index(int(np.argmin(d)), d.shape)
        if d[i, j] < MIN_DISTANCE_A:
            raise ValueError(
                f"{path}: atoms {i + 1} ({structure[i].specie}) and {j + 1} ({structure[j].specie}) are "
                f"{d[i, j]:.2f} Å apart (overlapping atoms)"
            )
    return structure


def reducible_metal(composition: Composition, path: str | Path) -> str:
    """The metal whose reduction takes the intercalant's electrons (the one with most oxidation states)."""
    candidates = [
        el
        for el in composition.elements
        if el.is_metal and len([s for s in el.oxidation_states if s > 0]) > 1
    ]
    if not candidates:
        raise ValueError(
            f"{path}: no metal that can be reduced in {composition.reduced_formula} "
            "(an intercalation host needs one with several oxidation states)"
        )
    return max(candidates, key=lambda el: (el.is_transition_metal, len(el.oxidation_states))).symbol


def _formula_unit(framework: Composition, ions: float) -> Composition:
    """The smallest multiple of the framework's reduced formula holding a whole number of ions."""
    reduced, factor = framework.get_reduced_composition_and_factor()
    for k in range(1, 49):
        if factor % k == 0 and math.isclose(ions * k / factor, round(ions * k / factor), abs_tol=1e-6):
            return reduced * k
    return reduced


def host_from_file(
    path: str | Path,
    intercalants: list[str] | tuple[str, ...] = (),
    name: str | None = None,
    ion: str | None = None,
    formula: str | None = None,
) -> Host:
    """The Host of a structure file: the charged host, and the discharged cell if the file holds an ion.

    ``ion`` names the intercalant the file holds; by default, the one campaign intercalant
    found in it (none: the file is the charged host and sites are searched).
    """
    structure = read_structure(path)
    present = {el.symbol for el in structure.composition.elements}
    if ion is None:
        found = [i for i in intercalants if i in present]
        if len(found) > 1:
            raise ValueError(f"{path}: holds {' and '.join(found)}; say which is the intercalant with `ion:`")
        ion = found[0] if found else None
    elif ion not in present:
        raise ValueError(f"{path}: `ion: {ion}` but the file holds no {ion}")
    charged = structure.copy()
    discharged = None
    if ion is not None:
        charged.remove_species([ion])
        if len(charged) == 0:
            raise ValueError(f"{path}: nothing is left when {ion} is removed")
        discharged = structure
    metal = reducible_metal(charged.composition, path)
    if formula is not None:
        try:
            unit = Composition(formula)
        except (ValueError, KeyError) as exc:
            raise ValueError(f"{path}: cannot read formula {formula!r}: {exc}") from None
        if {el.symbol for el in unit.elements} != {el.symbol for el in charged.composition.elements}:
            raise ValueError(f"{path}: formula {formula} has other elements than the host {charged.formula}")
    elif ion is not None:
        unit = _formula_unit(charged.composition, structure.composition[ion])
    else:  # no ion in the file: x_max counts per reduced formula unless `formula:` says otherwise
        unit = charged.composition.reduced_composition
    return Host(
        name=name or Path(path).stem,
        formula="".join(el.symbol + (f"{n:g}" if n != 1 else "") for el, n in unit.items()),
        redox_metal=metal,
        family="file",
        charged=charged,
        discharged=discharged,
        site_ion=ion,
    )


def check_endpoints(initial: Structure, final: Structure, where: str, tol_a: float = 0.5) -> int:
    """The index of the one ion that moves between two NEB endpoints, or a one-line ValueError.

    Same lattice, same atoms in the same order, exactly one atom moved by more than
    ``tol_a`` (the other atoms may relax a little).
    """
    if len(initial) != len(final):
        raise ValueError(f"{where}: the endpoints hold {len(initial)} and {len(final)} atoms")
    if [s.specie.symbol for s in initial] != [s.specie.symbol for s in final]:
        first = next(i for i, (a, b) in enumerate(zip(initial, final, strict=True)) if a.specie != b.specie)
        raise ValueError(
            f"{where}: the endpoints differ in species or order from atom {first + 1} "
            f"({initial[first].specie} against {final[first].specie})"
        )
    if not np.allclose(initial.lattice.matrix, final.lattice.matrix, atol=1e-3):
        raise ValueError(f"{where}: the endpoints have different cells (an NEB runs in one fixed cell)")
    d = final.frac_coords - initial.frac_coords
    d -= np.round(d)
    moved = np.linalg.norm(d @ initial.lattice.matrix, axis=1)
    far = np.flatnonzero(moved > tol_a)
    if len(far) != 1:
        what = "no atom moves" if len(far) == 0 else f"{len(far)} atoms move"
        raise ValueError(f"{where}: {what} by more than {tol_a} Å; an NEB path moves one ion")
    return int(far[0])
