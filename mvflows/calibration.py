"""Softening calibration: a force field's barriers corrected by a few reference points.

Universal potentials underestimate the curvature of the energy surface (Deng et al., npj
Comput. Mater. 2025): near a minimum, their forces and relative energies are a fraction
``s`` of the reference's, about the same fraction across a system. Given structures with
reference energies (and forces, where the reference gave them), :func:`fit_softening`
evaluates the model on the same structures and fits ``s`` as the slope, through zero, of
model against reference:

* forces (preferred, ``method: forces``): every Cartesian component of every atom;
* energies (``method: energies``, when a point has no forces): each structure's energy
  relative to the mean of the points of the same composition (a band's images, say).

A barrier is an energy difference on that surface, so the calibrated barrier is the raw one
divided by ``s`` (:func:`calibrated_barrier`). Whether one factor fitted on one host moves
another host's barrier toward the reference is an empirical question; the result keeps the
factor, the points and the fit's r² beside the raw barrier so the user can judge.

Points come from an extended-XYZ file (ASE's ``energy=`` and ``forces`` columns), as DFT
codes and ``mvflows calibration-points`` (a stored band's images and energies) write them.
This module holds the science and the file format; the job that evaluates the model is
:mod:`mvflows.jobs.calibration`.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field
from pymatgen.core import Structure

# below this a fitted factor means the model's surface does not follow the reference's at all
MIN_FACTOR = 0.2


class CalibrationError(ValueError):
    """A points file that cannot calibrate anything (unreadable, no energies, too few points)."""


class CalibrationSettings(BaseModel):
    """A campaign's ``calibration:`` block."""

    model_config = ConfigDict(extra="forbid")

    points: str = Field(
        ...,
        description="extended-XYZ file of structures with reference energies (and forces), relative to "
        "the campaign",
    )
    reference: str = Field(
        "reference", description="what computed the points (e.g. 'PBE, VASP'), for the report"
    )
    method: Literal["auto", "forces", "energies"] = Field(
        "auto", description="fit on forces (auto: when every point has them) or on relative energies"
    )


class ReferencePoint(BaseModel):
    """One structure and what the reference computed for it."""

    structure: Structure
    energy_ev: float
    forces_ev_a: list[list[float]] | None = None
    label: str = ""


class CalibrationDocument(BaseModel):
    """The fitted softening factor of one model, and where it came from."""

    model: str = Field(..., description="the calibrated force field (calculator label)")
    reference: str
    method: Literal["forces", "energies"]
    factor: float | None = Field(None, description="model / reference slope: below 1, the model is too soft")
    r2: float | None = Field(None, description="coefficient of determination of the fit through zero")
    n_points: int
    n_values: int = Field(..., description="force components or relative energies the fit used")
    points: list[str] = Field(default_factory=list, description="each point's label (file:index formula)")
    points_digest: str = Field(..., description="hash of the points, so a changed file is a new calibration")
    failure_reason: str | None = None


def read_points(path: str | Path) -> list[ReferencePoint]:
    """The structures of an extended-XYZ file with their reference energies (forces if present)."""
    from ase.io import read
    from pymatgen.io.ase import AseAtomsAdaptor

    path = Path(path)
    try:
        frames = read(path, index=":", format="extxyz")
    except FileNotFoundError:
        raise CalibrationError(f"{path}: no such file") from None
    except Exception as exc:  # noqa: BLE001 - ASE's parser raises many kinds
        raise CalibrationError(f"{path}: not an extended-XYZ file ({str(exc).splitlines()[0]})") from None
    points = []
    for i, atoms in enumerate(frames):
        calc = atoms.calc
        results = getattr(calc, "results", {}) if calc is not None else {}
        if "energy" not in results:
            raise CalibrationError(f"{path}: structure {i} ({atoms.get_chemical_formula()}) has no energy")
        forces = results.get("forces")
        points.append(
            ReferencePoint(
                structure=AseAtomsAdaptor.get_structure(atoms),
                energy_ev=float(results["energy"]),
                forces_ev_a=None if forces is None else np.asarray(forces, dtype=float).tolist(),
                label=f"{path.name}:{i} {atoms.get_chemical_formula()}",
            )
        )
    if len(points) < 2:
        raise CalibrationError(f"{path}: {len(points)} structure(s); a calibration needs at least 2")
    return points


def write_points(path: str | Path, points: list[ReferencePoint]) -> None:
    """Write points as extended XYZ (energies, and forces where known), as :func:`read_points` reads them."""
    from ase.calculators.singlepoint import SinglePointCalculator
    from ase.io import write
    from pymatgen.io.ase import AseAtomsAdaptor

    frames = []
    for p in points:
        atoms = AseAtomsAdaptor.get_atoms(p.structure)
        forces = None if p.forces_ev_a is None else np.asarray(p.forces_ev_a)
        atoms.calc = SinglePointCalculator(atoms, energy=p.energy_ev, forces=forces)
        frames.append(atoms)
    write(path, frames, format="extxyz")


def points_digest(points: list[ReferencePoint]) -> str:
    text = "".join(
        f"{p.structure.formula}{np.round(p.structure.cart_coords, 5).tobytes().hex()}{p.energy_ev:.6f}"
        f"{np.round(p.forces_ev_a, 5).tobytes().hex() if p.forces_ev_a is not None else ''}"
        for p in points
    )
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def choose_method(points: list[ReferencePoint], method: str) -> Literal["forces", "energies"]:
    have_forces = all(p.forces_ev_a is not None for p in points)
    if method == "forces" and not have_forces:
        missing = next(p.label for p in points if p.forces_ev_a is None)
        raise CalibrationError(f"calibration.method is forces, but point {missing} has no forces")
    if method == "auto":
        return "forces" if have_forces else "energies"
    return method  # type: ignore[return-value]


def _relative_energies(points: list[ReferencePoint], energies: list[float]) -> tuple[list[int], np.ndarray]:
    """Each point's energy minus the mean of its composition's points (groups of one are left out)."""
    groups: dict[str, list[int]] = defaultdict(list)
    for i, p in enumerate(points):
        groups[p.structure.composition.reduced_formula + str(len(p.structure))].append(i)
    used, values = [], []
    for members in groups.values():
        if len(members) < 2:
            continue
        mean = np.mean([energies[i] for i in members])
        used += members
        values += [energies[i] - mean for i in members]
    return used, np.asarray(values)


def _slope(model: np.ndarray, reference: np.ndarray) -> tuple[float, float]:
    """Least-squares slope through zero of model against reference, and its r²."""
    denom = float(reference @ reference)
    slope = float(model @ reference) / denom
    residual = model - slope * reference
    total = float(model @ model)
    r2 = 1.0 - float(residual @ residual) / total if total > 0 else 0.0
    return slope, r2


def fit_softening(
    points: list[ReferencePoint],
    model_energies: list[float],
    model_forces: list[np.ndarray] | None,
    method: Literal["forces", "energies"],
    model: str,
    reference: str,
) -> CalibrationDocument:
    """The model's softening factor on the points, as data: a fit that cannot be made says why."""
    doc = {
        "model": model,
        "reference": reference,
        "method": method,
        "n_points": len(points),
        "points": [p.label for p in points],
        "points_digest": points_digest(points),
    }
    if method == "forces":
        ref = np.concatenate([np.asarray(p.forces_ev_a, dtype=float).ravel() for p in points])
        mod = np.concatenate([np.asarray(f, dtype=float).ravel() for f in model_forces or []])
        reason = "the reference forces are all zero" if not np.any(ref) else None
    else:
        used, ref = _relative_energies(points, [p.energy_ev for p in points])
        _, mod = _relative_energies(points, model_energies)
        reason = None
        if len(used) < 2:
            reason = "no two points share a composition: relative energies need a group of at least 2"
        elif not np.any(ref):
            reason = "the reference energies of each composition are all equal"
    if reason is not None:
        return CalibrationDocument(**doc, n_values=len(ref), failure_reason=reason)
    factor, r2 = _slope(mod, ref)
    if factor < MIN_FACTOR:
        reason = (
            f"fitted factor {factor:.3f} (r2 {r2:.2f}) is below {MIN_FACTOR}: the model does not follow "
            "the reference on these points; no barrier is calibrated"
        )
        return CalibrationDocument(**doc, n_values=len(ref), r2=r2, failure_reason=reason)
    return CalibrationDocument(**doc, n_values=len(ref), factor=factor, r2=r2)


def calibrated_barrier(barrier_ev: float | None, calibration: CalibrationDocument | None) -> float | None:
    """The raw barrier divided by the softening factor; None where either is missing."""
    if barrier_ev is None or calibration is None or calibration.factor is None:
        return None
    return barrier_ev / calibration.factor


def points_as_data(points: list[ReferencePoint]) -> list[dict[str, Any]]:
    """Points as a job's input (JSON): the content key then follows the points, not the file name."""
    return [{**p.model_dump(exclude={"structure"}), "structure": p.structure.as_dict()} for p in points]


def band_points(output: dict[str, Any], label: str) -> list[ReferencePoint]:
    """The images of a stored NEB job's output (emmet's ``NebResult``: ``images`` and their
    absolute ``energies``) as energy-only reference points, labelled ``label:i``."""
    images = output.get("images") or output.get("structures")
    energies = output.get("energies")
    if not images or not energies or len(images) != len(energies):
        raise CalibrationError(f"{label}: the stored NEB output has no images with energies")
    points = []
    for i, (image, energy) in enumerate(zip(images, energies, strict=True)):
        structure = image if isinstance(image, Structure) else Structure.from_dict(image)
        points.append(ReferencePoint(structure=structure, energy_ev=float(energy), label=f"{label}:{i}"))
    return points
