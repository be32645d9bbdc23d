"""The energy model behind every job: atomate2 force fields, loaded once per process."""

from __future__ import annotations

import functools
from collections.abc import Callable
import json
from dataclasses import dataclass, field
from typing import Any, Protocol

from atomate2.forcefields.jobs import ForceFieldRelaxMaker
from atomate2.forcefields.neb import ForceFieldNebFromImagesMaker
from atomate2.forcefields.utils import MLFF, ase_calculator

from mvflows.atomate2_fixes import LEAN_IONIC_STEP_DATA, neb_kwargs, tag_neb_convergence

# Models whose weights ship inside their Python package and so load offline.
OFFLINE_MODELS = ("SevenNet", "CHGNet")
DEFAULT_MODEL = "SevenNet"


def resolve_model_name(name: str) -> str:
    """Canonical atomate2 force-field name (MLFF value) for a user's spelling."""
    wanted = str(name).removeprefix("MLFF.").lower().replace("_", "-")
    for member in MLFF:
        if member is MLFF.Forcefield:
            continue
        if wanted in (member.value.lower(), member.name.lower().replace("_", "-")):
            return member.value
    known = ", ".join(m.value for m in MLFF if m is not MLFF.Forcefield)
    raise ValueError(f"unknown force field {name!r}; atomate2 knows: {known}")


@functools.lru_cache(maxsize=4)
def _cached(meta: str, kwargs_json: str) -> Any:
    return ase_calculator(MLFF(meta), **json.loads(kwargs_json))


def cached_calculator(calculator_meta: Any, **kwargs: Any) -> Any:
    """One ASE calculator per (model, settings) in this process (see atomate2_fixes, 6)."""
    meta = calculator_meta.value if isinstance(calculator_meta, MLFF) else str(calculator_meta)
    return _cached(meta, json.dumps(kwargs, sort_keys=True, default=str))


def load_model_or_fail(model: str, model_kwargs: dict | None = None) -> None:
    """Load a model now, so a run fails before any compute when it cannot be loaded."""
    name = resolve_model_name(model)
    kwargs = {**_default_kwargs(name), **(model_kwargs or {})}
    try:
        cached_calculator(MLFF(name), **kwargs)
    except Exception as exc:  # noqa: BLE001 - any loader error means the same to the user
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise RuntimeError(
            f"force field {name!r} cannot be loaded on this machine ({type(exc).__name__}: {first}); "
            f"models that work offline: {', '.join(OFFLINE_MODELS)}"
        ) from None


def _default_kwargs(name: str) -> dict:
    from atomate2.forcefields.utils import _DEFAULT_CALCULATOR_KWARGS

    return dict(_DEFAULT_CALCULATOR_KWARGS.get(MLFF(name), {}))


class _CachedCalculatorMixin:
    """Take the calculator from the per-process cache instead of loading it per job."""

    def _get_calculator(self):  # type: ignore[no-untyped-def]
        return cached_calculator(self.calculator_meta, **self.calculator_kwargs)


@dataclass
class MvRelaxMaker(_CachedCalculatorMixin, ForceFieldRelaxMaker):
    """atomate2's force-field relax with a shared model and lean task documents."""

    name: str = "relax"
    ionic_step_data: tuple[str, ...] | None = LEAN_IONIC_STEP_DATA


@dataclass
class MvNebMaker(_CachedCalculatorMixin, ForceFieldNebFromImagesMaker):
    """atomate2's force-field NEB from images, run on mvflows' faster band.

    Same job, inputs and NebResult as atomate2's maker; the band evaluates all moving
    images per step over ``workers`` processes (default: the cores this job may use),
    relaxes without climbing to ``preclimb_fmax`` first and then climbs (see
    :mod:`mvflows.neb_band`; measured in ``benchmarks/neb.py``). The convergence tag is
    judged on the NEB force of the final band (atomate2_fixes, 7).
    """

    name: str = "neb"
    neb_kwargs: dict = field(default_factory=neb_kwargs)
    # ASE's ODE NEB optimiser: Mg in Cr2S4, same mirrored band and fmax: 79 force calls
    # (barrier 0.665 eV), LBFGS 107 (0.658), BFGS 103, MDMin 103, FIRE 163; tight reference 0.657
    optimizer: str = "ODE"
    workers: int | None = None
    preclimb_fmax: float | None = 0.3

    def run_ase(self, images, prev_dir=None):  # type: ignore[no-untyped-def]
        from mvflows.image_workers import ImageEvaluator, available_cores
        from mvflows.neb_band import run_band

        meta = self.calculator_meta.value if isinstance(self.calculator_meta, MLFF) else str(self.calculator_meta)
        workers = self.workers or min(available_cores(), max(len(images) - 2, 1))
        evaluate = ImageEvaluator(meta, dict(self.calculator_kwargs), workers=workers)
        fmax = self.relax_kwargs.get("fmax", 0.1)
        run = run_band(
            list(images), evaluate, fmax=fmax, steps=self.steps, neb_kwargs=self.neb_kwargs,
            optimizer=self.optimizer, preclimb_fmax=self.preclimb_fmax,
        )
        return tag_neb_convergence(run.result, run.max_neb_force, fmax)


class Calculator(Protocol):
    """What the pair flow needs from an energy backend; the flow itself never changes.

    ``relax_maker`` returns a Maker whose job output has ``.structure`` and
    ``.output.energy`` (atomate2 task documents, force field or VASP); ``neb_maker``
    returns a Maker whose ``make(images)`` job output has ``.energies``, ``.images`` and
    ``.tags`` (emmet's NebResult).
    """

    @property
    def label(self) -> str: ...

    def relax_maker(self, relax_cell: bool = True, fmax: float | None = None, steps: int | None = None) -> Any: ...

    def neb_maker(self, fmax: float, steps: int, climb: bool, optimizer: str = "ODE") -> Any: ...


@dataclass
class ForceFieldCalculator:
    """Builds the makers of one force-field model with one set of settings."""

    model: str = DEFAULT_MODEL
    model_kwargs: dict = field(default_factory=dict)
    relax_fmax: float = 0.05
    relax_steps: int = 500

    @property
    def label(self) -> str:
        return f"forcefield:{resolve_model_name(self.model)}"

    def relax_maker(self, relax_cell: bool = True, fmax: float | None = None, steps: int | None = None) -> MvRelaxMaker:
        return MvRelaxMaker(
            name="relax" if relax_cell else "relax (fixed cell)",
            force_field_name=resolve_model_name(self.model),
            calculator_kwargs=dict(self.model_kwargs),
            relax_cell=relax_cell,
            steps=steps or self.relax_steps,
            relax_kwargs={"fmax": fmax or self.relax_fmax},
            # BFGS, not atomate2's FIRE: every relax here starts near its minimum. NEB endpoint
            # (97 atoms, fixed cell, fmax 0.02): 42 steps vs 69. Unit cells with the cell free
            # (11 spinels, fmax 0.05): 31.8 s vs 70.6 s on one core (benchmarks/relax.py), energies within 0.35 meV/atom.
            optimizer_kwargs={"optimizer": "BFGS"},
        )

    def neb_maker(self, fmax: float, steps: int, climb: bool, optimizer: str = "ODE") -> MvNebMaker:
        return MvNebMaker(
            force_field_name=resolve_model_name(self.model),
            calculator_kwargs=dict(self.model_kwargs),
            neb_kwargs=neb_kwargs(climb=climb),
            steps=steps,
            relax_kwargs={"fmax": fmax},
            optimizer=optimizer,
        )


def _forcefield_from_settings(settings: Any) -> ForceFieldCalculator:
    return ForceFieldCalculator(
        model=settings.model,
        model_kwargs=dict(settings.model_kwargs),
        relax_fmax=settings.relax.fmax,
        relax_steps=settings.relax.steps,
    )


# campaign ``calculator.kind`` -> factory taking the campaign's CalculatorSettings
CALCULATORS: dict[str, Callable[[Any], Calculator]] = {"forcefield": _forcefield_from_settings}


def _vasp(settings: Any) -> Calculator:
    from mvflows.vasp.makers import vasp_from_settings  # VASP makers load lazily

    return vasp_from_settings(settings)


def _fake_vasp(settings: Any) -> Calculator:
    from mvflows.vasp.makers import fake_vasp_from_settings

    return fake_vasp_from_settings(settings)


CALCULATORS.update({"vasp": _vasp, "fake-vasp": _fake_vasp})  # see mvflows/vasp and mvflows/testing
