"""Competing phases for the hull: simple prototypes from the shipped ``data/competing_phases.yaml``."""

from __future__ import annotations

import functools
from importlib import resources
from typing import Any

import numpy as np
import yaml
from pymatgen.core import Composition, Lattice, Molecule, Structure

from mvflows.structures.metals import metal_reference


@functools.cache
def phase_table() -> dict[str, dict[str, Any]]:
    data = yaml.safe_load(resources.files("mvflows").joinpath("data/competing_phases.yaml").read_text())
    return {**data["elements"], **data["compounds"]}


def _s8() -> Molecule:
    # crown S8 ring: S-S 2.05 Å, S-S-S 108°: radius 2.345 Å, puckering +-0.495 Å
    coords = [
        [2.345 * np.cos(k * np.pi / 4), 2.345 * np.sin(k * np.pi / 4), 0.495 * (-1) ** k] for k in range(8)
    ]
    return Molecule(["S"] * 8, coords)


def build(name: str) -> Structure:
    """The starting structure of a shipped competing phase."""
    p = phase_table()[name]
    proto = p["prototype"]
    comp = Composition(name)
    els = [el.symbol for el in comp.elements]
    if proto == "metal":
        return metal_reference(name)
    if proto == "bcc":
        return Structure(
            Lattice.cubic(p["a"]), [name, name], [[0, 0, 0], [0.5, 0.5, 0.5]]
        ).get_primitive_structure()
    if proto == "fcc":
        a = p["a"] / 2**0.5
        return Structure(Lattice.from_parameters(a, a, a, 60, 60, 60), [name], [[0, 0, 0]])
    if proto == "hcp":
        return Structure(
            Lattice.hexagonal(p["a"], p["c"]), [name] * 2, [[1 / 3, 2 / 3, 0.25], [2 / 3, 1 / 3, 0.75]]
        )
    if proto in ("s8_molecule", "o2_molecule"):
        mol = _s8() if proto == "s8_molecule" else Molecule(["O", "O"], [[0, 0, 0], [0, 0, 1.21]])
        return mol.get_boxed_structure(p["box"], p["box"], p["box"] + 0.37)  # not cubic: no symmetric cage
    cation = next(e for e in els if Composition(e).elements[0].is_metal)
    anion = next(e for e in els if e != cation)
    if proto in ("rocksalt", "zincblende"):
        spg = "Fm-3m" if proto == "rocksalt" else "F-43m"
        b = [0.5, 0.5, 0.5] if proto == "rocksalt" else [0.25, 0.25, 0.25]
        return Structure.from_spacegroup(
            spg, Lattice.cubic(p["a"]), [cation, anion], [[0, 0, 0], b]
        ).get_primitive_structure()
    if proto == "cdi2":
        z = p["z"]
        return Structure(
            Lattice.hexagonal(p["a"], p["c"]),
            [cation, anion, anion],
            [[0, 0, 0], [1 / 3, 2 / 3, z], [2 / 3, 1 / 3, -z]],
        )
    if proto == "nias":
        return Structure(
            Lattice.hexagonal(p["a"], p["c"]),
            [cation, cation, anion, anion],
            [[0, 0, 0], [0, 0, 0.5], [1 / 3, 2 / 3, 0.25], [2 / 3, 1 / 3, 0.75]],
        )
    if proto == "pyrite":
        return Structure.from_spacegroup(
            "Pa-3", Lattice.cubic(p["a"]), [cation, anion], [[0, 0, 0], [p["x"]] * 3]
        )
    if proto == "rutile":
        return Structure.from_spacegroup(
            "P4_2/mnm", Lattice.tetragonal(p["a"], p["c"]), [cation, anion], [[0, 0, 0], [p["x"], p["x"], 0]]
        )
    if proto == "mos2_2h":
        return Structure.from_spacegroup(
            "P6_3/mmc",
            Lattice.hexagonal(p["a"], p["c"]),
            [cation, anion],
            [[1 / 3, 2 / 3, 0.25], [1 / 3, 2 / 3, p["z"]]],
        )
    raise ValueError(f"unknown prototype {proto!r} for {name}")


def is_molecule(name: str) -> bool:
    return phase_table()[name]["prototype"].endswith("_molecule")


def phases_in(chemsys: set[str]) -> list[str]:
    """Shipped competing phases whose elements all lie in ``chemsys``."""
    return [n for n in phase_table() if {e.symbol for e in Composition(n).elements} <= set(chemsys)]
