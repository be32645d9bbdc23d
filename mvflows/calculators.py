"""The energy model behind every job: a Calculator builds the relax and NEB makers of one backend.

The pair graph (:mod:`mvflows.flows`) never changes with the backend: it asks a
Calculator for makers. Force fields are atomate2's makers with a per-process model cache
and mvflows' NEB band; VASP lives in :mod:`mvflows.vasp` (loaded only when asked for).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol

from atomate2.forcefields.jobs import ForceFieldRelaxMaker
from atomate2.forcefields.neb import ForceFieldNebFromImagesMaker
from pymatgen.core import Structure

from mvflows.atomate2_fixes import LEAN_IONIC_STEP_DATA, neb_kwargs, tag_neb_convergence
from mvflows.cascade import Cascade, preconverged_band, prerelaxed
from mvflows.keys import KeyedMaker
from mvflows.models import (
    DEFAULT_MODEL,
    DEVICE_KEYWORDS,
    cached_calculator,
    device_kwargs,
    mlff_name,
    model_identity,
    model_label,
    resolve_model,
)
from mvflows.neb_band import DipGuard

logger = logging.getLogger(__name__)


class _ForceFieldMaker(KeyedMaker):
    """Shared by the force-field makers: the cached model, and the model's identity in the key.

    The device keyword (cpu, cuda) stays out of the key: a job computed on a GPU is the same
    job as on a CPU, so either finds the other's output.
    """

    UNKEYED: ClassVar[tuple[str, ...]] = ("calculator_kwargs",)

    def _get_calculator(self):  # type: ignore[no-untyped-def]
        return cached_calculator(self.calculator_meta, **self.calculator_kwargs)

    def key_extra(self) -> dict[str, Any]:
        device = DEVICE_KEYWORDS.get(mlff_name(self.force_field_name))
        kwargs = {k: v for k, v in self.calculator_kwargs.items() if k != device}
        return {"calculator_kwargs": kwargs, "model": model_identity(self.force_field_name, kwargs)}


@dataclass
class MvRelaxMaker(_ForceFieldMaker, ForceFieldRelaxMaker):
    """atomate2's force-field relax with a shared model and lean task documents."""

    UNKEYED: ClassVar[tuple[str, ...]] = ("name", "calculator_meta", "tags")

    name: str = "relax"
    ionic_step_data: tuple[str, ...] | None = LEAN_IONIC_STEP_DATA
    cascade: Cascade | None = None  # a cheap model relaxes first (mvflows.cascade)

    def run_ase(self, mol_or_struct, prev_dir=None):  # type: ignore[no-untyped-def]
        if self.cascade is not None and isinstance(mol_or_struct, Structure):
            mol_or_struct, note = prerelaxed(
                self.cascade, mol_or_struct, self.relax_cell, self.relax_shape, self.optimizer_kwargs
            )
            logger.info(note)
        return super().run_ase(mol_or_struct, prev_dir=prev_dir)


@dataclass
class MvNebMaker(_ForceFieldMaker, ForceFieldNebFromImagesMaker):
    """atomate2's force-field NEB from images, run on mvflows' faster band.

    Same job, inputs and NebResult as atomate2's maker; the band evaluates all moving
    images per step over ``workers`` processes (default: the cores this job may use),
    relaxes without climbing to ``preclimb_fmax`` first and then climbs (see
    :mod:`mvflows.neb_band`; measured in ``benchmarks/neb.py``). The convergence tag is
    judged on the NEB force of the final band (atomate2_fixes, 7).
    """

    # run_ase below reads only the model, steps, fmax, neb_kwargs, optimiser and the
    # pre-climb force; the rest of atomate2's fields (trajectory files, symmetry fixing,
    # document options) and the worker count do not change the band
    UNKEYED: ClassVar[tuple[str, ...]] = (
        "name",
        "calculator_meta",
        "tags",
        "workers",
        "ionic_step_data",
        "store_trajectory",
        "fix_symmetry",
        "symprec",
        "optimizer_kwargs",
        "traj_file",
        "traj_file_fmt",
        "traj_interval",
        "neb_doc_kwargs",
        "task_document_kwargs",
    )

    name: str = "neb"
    neb_kwargs: dict = field(default_factory=neb_kwargs)
    # ASE's ODE NEB optimiser: Mg in Cr2S4, same mirrored band and fmax: 79 force calls
    # (barrier 0.665 eV), LBFGS 107 (0.658), BFGS 103, MDMin 103, FIRE 163; tight reference 0.657
    optimizer: str = "ODE"
    workers: int | None = None
    preclimb_fmax: float | None = 0.3
    # a band that passes below its relaxed endpoints restarts once from a re-relaxed end, or stops
    guard: DipGuard | None = field(default_factory=DipGuard)
    cascade: Cascade | None = None  # a cheap model moves the band first (mvflows.cascade)

    def run_ase(self, images, prev_dir=None):  # type: ignore[no-untyped-def]  # noqa: ARG002 - atomate2's signature
        from mvflows.image_workers import ImageEvaluator, available_cores
        from mvflows.neb_band import run_band

        meta = getattr(self.calculator_meta, "value", str(self.calculator_meta))
        workers = self.workers or min(available_cores(), max(len(images) - 2, 1))
        # borrow: the cores of `mvflows run`'s empty job slots too, step by step (image_workers)
        borrow = self.workers is None
        evaluate = ImageEvaluator(meta, dict(self.calculator_kwargs), workers=workers, borrow=borrow)
        fmax = self.relax_kwargs.get("fmax", 0.1)
        notes = []
        images = list(images)
        if self.cascade is not None:
            images, note = preconverged_band(self.cascade, images, workers, self.neb_kwargs, self.optimizer)
            notes.append(note)
        run = run_band(
            images,
            evaluate,
            fmax=fmax,
            steps=self.steps,
            neb_kwargs=self.neb_kwargs,
            optimizer=self.optimizer,
            preclimb_fmax=self.preclimb_fmax,
            guard=self.guard,
        )
        run.result.tags = [*(run.result.tags or []), *notes]
        return tag_neb_convergence(run.result, run.max_neb_force, fmax)


class Calculator(Protocol):
    """What the pair graph needs from an energy backend; the graph itself never changes.

    ``relax_maker`` returns a Maker whose job output has ``.structure`` and
    ``.output.energy`` (atomate2 task documents, force field or VASP); ``neb_maker``
    returns a Maker whose ``make(images)`` job output is emmet's NebResult (energies,
    images, tags). ``neb_needs_endpoint_energies`` says whether that maker must be given
    the relaxed endpoint energies (VASP does not recompute folders 00 and NN). ``guard``
    (:class:`~mvflows.neb_band.DipGuard`) is what a band below its endpoints does; a backend
    whose band runs elsewhere (VASP) cannot stop it and ignores it, and the NEB summary
    still reports the dip.
    """

    @property
    def label(self) -> str: ...

    neb_needs_endpoint_energies: bool

    def relax_maker(
        self, relax_cell: bool = True, fmax: float | None = None, steps: int | None = None
    ) -> Any: ...

    def neb_maker(
        self, fmax: float, steps: int, climb: bool, optimizer: str = "ODE", guard: DipGuard | None = None
    ) -> Any: ...


@dataclass
class ForceFieldCalculator:
    """Builds the makers of one force-field model with one set of settings."""

    model: str = DEFAULT_MODEL
    model_kwargs: dict = field(default_factory=dict)
    relax_fmax: float = 0.05
    relax_steps: int = 500
    device: str = "auto"
    neb_needs_endpoint_energies: bool = False
    cascade: Cascade | None = None

    @property
    def label(self) -> str:
        return f"forcefield:{model_label(self.model, self.model_kwargs)}"

    def _model(self) -> dict[str, Any]:
        """The makers' force field and keywords: a catalogue name (``7net-l3i5``) resolved."""
        name, kwargs = resolve_model(self.model, self.model_kwargs)
        return {"force_field_name": name, "calculator_kwargs": {**kwargs, **device_kwargs(name, self.device)}}

    def relax_maker(
        self, relax_cell: bool = True, fmax: float | None = None, steps: int | None = None
    ) -> MvRelaxMaker:
        return MvRelaxMaker(
            name="relax" if relax_cell else "relax (fixed cell)",
            **self._model(),
            relax_cell=relax_cell,
            steps=steps or self.relax_steps,
            relax_kwargs={"fmax": fmax or self.relax_fmax},
            # BFGS, not atomate2's FIRE: every relax here starts near its minimum. NEB endpoint
            # (97 atoms, fixed cell, fmax 0.02): 42 steps vs 69. Unit cells with the cell free
            # (11 spinels, fmax 0.05): 31.8 s vs 70.6 s on one core (benchmarks/relax.py),
            # energies within 0.35 meV/atom.
            optimizer_kwargs={"optimizer": "BFGS"},
            cascade=self.cascade,
        )

    def neb_maker(
        self, fmax: float, steps: int, climb: bool, optimizer: str = "ODE", guard: DipGuard | None = None
    ) -> MvNebMaker:
        return MvNebMaker(
            **self._model(),
            neb_kwargs=neb_kwargs(climb=climb),
            steps=steps,
            relax_kwargs={"fmax": fmax},
            optimizer=optimizer,
            guard=guard,
            cascade=self.cascade,
        )


def _forcefield(settings: Any) -> ForceFieldCalculator:
    return ForceFieldCalculator(
        model=settings.model,
        model_kwargs=dict(settings.model_kwargs),
        relax_fmax=settings.relax.fmax,
        relax_steps=settings.relax.steps,
        device=settings.device,
        cascade=_cascade(settings.cascade),
    )


def _cascade(settings: Any) -> Cascade | None:
    if settings is None:
        return None
    return Cascade(**settings.model_dump())  # CascadeSettings holds Cascade's fields


def _vasp(settings: Any) -> Calculator:
    from mvflows.vasp.makers import vasp_from_settings  # VASP makers load lazily

    return vasp_from_settings(settings)


def _fake_vasp(settings: Any) -> Calculator:
    from mvflows.vasp.makers import vasp_from_settings

    return vasp_from_settings(settings, fake=True)


# campaign ``calculator.kind`` -> factory taking the campaign's CalculatorSettings
CALCULATORS: dict[str, Callable[[Any], Calculator]] = {
    "forcefield": _forcefield,
    "vasp": _vasp,
    "fake-vasp": _fake_vasp,  # the VASP graph on fake VASP (mvflows.testing)
}


def calculator_for(settings: Any) -> Calculator:
    """The Calculator that a campaign's ``calculator:`` block describes."""
    return CALCULATORS[settings.kind](settings)
