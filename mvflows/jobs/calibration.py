"""The calibration job: the campaign's force field on the reference points, and its softening factor.

One job per campaign, before the pair results: the factor depends on the model and the
points only, so every pair's result divides its barrier by the same factor
(:func:`mvflows.calibration.calibrated_barrier`). Its inputs are the points themselves and
the model's identity, so its content key changes when either does, and a re-run reuses it.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from pymatgen.io.ase import AseAtomsAdaptor

from mvflows.calibration import (
    CalibrationDocument,
    CalibrationSettings,
    ReferencePoint,
    choose_method,
    fit_softening,
    points_as_data,
    read_points,
)
from mvflows.keys import job
from mvflows.models import cached_calculator, default_kwargs, device_kwargs, model_identity, resolve_model


@job(output_schema=CalibrationDocument)
def calibrate(
    points: list[dict[str, Any]],
    method: str,
    reference: str,
    model: str,
    model_kwargs: dict[str, Any],
    identity: dict[str, str],  # noqa: ARG001 - in the content key: another checkpoint, another factor
    label: str,
    device: str = "auto",
) -> CalibrationDocument:
    """Single points of the model on every reference structure, then the fitted factor."""
    refs = [ReferencePoint.model_validate(p) for p in points]
    name, kwargs = resolve_model(model, model_kwargs)
    calc = cached_calculator(name, **{**default_kwargs(name), **kwargs, **device_kwargs(name, device)})
    chosen = choose_method(refs, method)
    energies, forces = [], []
    for p in refs:
        atoms = AseAtomsAdaptor.get_atoms(p.structure)
        atoms.calc = calc
        energies.append(float(atoms.get_potential_energy()))
        if chosen == "forces":
            forces.append(np.asarray(atoms.get_forces()))
    return fit_softening(refs, energies, forces if chosen == "forces" else None, chosen, label, reference)


def calibrate_job(settings: CalibrationSettings, calculator: Any) -> Any:
    """The campaign's calibration job (``calculator``: its force-field calculator settings)."""
    points = read_points(settings.points)
    choose_method(points, settings.method)  # a forces fit without forces fails here, not in the job
    name, kwargs = resolve_model(calculator.model, calculator.model_kwargs)
    out = calibrate(
        points_as_data(points),
        settings.method,
        settings.reference,
        calculator.model,
        dict(calculator.model_kwargs),
        model_identity(name, kwargs),
        calculator.label,
        calculator.device,
    )
    out.name = f"calibrate {calculator.label} on {len(points)} points"
    return out
