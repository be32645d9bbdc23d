"""Energy above the convex hull with pymatgen's PhaseDiagram, and user entries files.

A user entries file (YAML or JSON) is a list of ``{formula: MgS, energy_per_atom: -4.1}``
(or ``energy``: total eV of that formula), e.g. exported from a database. Its energies
must come from the same energy model as the campaign's calculator to be comparable;
mvflows cannot check that, so the file's name is recorded with the result.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml
from pymatgen.analysis.phase_diagram import PhaseDiagram
from pymatgen.core import Composition
from pymatgen.entries.computed_entries import ComputedEntry


def load_entries_file(path: str | Path) -> list[dict[str, Any]]:
    """Read a user entries file into ``[{formula, energy_per_atom}]``, or raise a one-line ValueError."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise ValueError(f"cannot read entries file {path}: {exc.strerror}") from None
    try:
        data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        raise ValueError(
            f"entries file {path} is not valid {path.suffix.lstrip('.') or 'YAML'}: {exc}"
        ) from None
    if isinstance(data, dict) and "entries" in data:
        data = data["entries"]
    if not isinstance(data, list):
        raise ValueError(f"entries file {path} must be a list of {{formula, energy_per_atom}}")
    out = []
    for i, row in enumerate(data):
        try:
            comp = Composition(row["formula"])
            if "energy_per_atom" in row:
                epa = float(row["energy_per_atom"])
            else:
                epa = float(row["energy"]) / comp.num_atoms
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(
                f"entries file {path}: entry {i}: needs formula and energy_per_atom or energy ({exc})"
            ) from None
        out.append(
            {"formula": comp.formula, "energy_per_atom": epa, "source": str(row.get("source", path.name))}
        )
    return out


def hull_energies(
    targets: dict[str, tuple[Composition, float]],
    competing: list[tuple[str, Composition, float]],
) -> dict[str, tuple[float, str]]:
    """E_hull (eV/atom, >= 0) and decomposition of each target against the competing phases.

    ``targets`` maps a label to (composition, total energy); ``competing`` holds
    (name, composition, total energy). The targets are part of the diagram, so a
    target below every competing phase combination lies on the hull (E_hull = 0).
    """
    entries = [
        ComputedEntry(Composition(comp).element_composition, energy, entry_id=name)
        for name, comp, energy in competing
    ]
    target_entries = {
        label: ComputedEntry(Composition(comp).element_composition, energy, entry_id=label)
        for label, (comp, energy) in targets.items()
    }
    elements = {el.symbol for e in [*entries, *target_entries.values()] for el in e.composition.elements}
    have = {e.composition.elements[0].symbol for e in entries if len(e.composition.elements) == 1}
    missing = elements - have
    if missing:
        raise ValueError(
            f"no elemental reference for {', '.join(sorted(missing))}: the hull needs one per element"
        )
    pd = PhaseDiagram(entries + list(target_entries.values()))
    out = {}
    for label, entry in target_entries.items():
        decomp, e_hull = pd.get_decomp_and_e_above_hull(entry, allow_negative=True)
        names = " + ".join(sorted(e.entry_id or e.composition.reduced_formula for e in decomp))
        out[label] = (max(0.0, float(e_hull)), names)
    return out
