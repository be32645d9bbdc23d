"""Hosts other than spinels (VS4, V2O5, Mo6S8), built from the shipped ``data/hosts.yaml``.

Each entry holds the cell, every site of it and the source of the data; nothing is
fetched at run time.
"""

from __future__ import annotations

import functools
from importlib import resources
from typing import Any

import yaml
from pymatgen.core import Composition, Lattice, Structure


@functools.cache
def host_catalog() -> dict[str, dict[str, Any]]:
    """Every shipped host: name -> metadata, lattice and sites."""
    text = resources.files("mvflows").joinpath("data/hosts.yaml").read_text()
    return yaml.safe_load(text)


HOSTS = tuple(host_catalog())


def check_host(name: str) -> str:
    """Return ``name`` if it is a shipped host, else raise a one-line ValueError."""
    if name not in host_catalog():
        raise ValueError(f"unknown host {name!r} (shipped hosts: {', '.join(HOSTS)})")
    return name


def host_structure(name: str, primitive: bool = True) -> Structure:
    """The charged host as shipped (its primitive cell unless ``primitive=False``)."""
    entry = host_catalog()[check_host(name)]
    lat = entry["lattice"]
    lattice = Lattice.from_parameters(lat["a"], lat["b"], lat["c"], lat["alpha"], lat["beta"], lat["gamma"])
    species = [s[0] for s in entry["sites"]]
    coords = [[float(x) % 1.0 for x in s[1:4]] for s in entry["sites"]]
    structure = Structure(lattice, species, coords)
    if Composition(entry["formula"]).reduced_formula != structure.composition.reduced_formula:
        raise ValueError(
            f"host {name}: sites give {structure.composition.reduced_formula}, not {entry['formula']}"
        )
    return structure.get_primitive_structure() if primitive else structure


def host_formula_units(name: str, structure: Structure, intercalant: str | None = None) -> float:
    """How many host formula units (e.g. Mo6S8) a cell holds, ignoring the intercalant."""
    formula = Composition(host_catalog()[check_host(name)]["formula"])
    frame = Composition({el: n for el, n in structure.composition.items() if el.symbol != intercalant})
    el = formula.elements[0]
    return frame[el] / formula[el]


def redox_metal_of(name: str) -> str:
    return str(host_catalog()[check_host(name)]["redox_metal"])
