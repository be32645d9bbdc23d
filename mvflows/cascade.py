"""A model cascade: a cheap model pre-converges, the campaign's model finishes.

NEB bands and their endpoint relaxes are most of a campaign's job-seconds, nearly all of
them in calls of the campaign's model (SevenNet-0: ~0.8 s per 97-atom call on one thread;
CHGNet 0.2.0: ~0.2 s, ``benchmarks/results/model_speed.json``). With a :class:`Cascade`
the cheap model relaxes a structure to a loose force, or moves a band to a loose NEB
force without climbing, and the campaign's model goes on from there to the campaign's own
thresholds: every number that is stored comes from the campaign's model.

A cheap model may break a host's symmetry (CHGNet relaxes Cr2S4 to hop legs of 2.05 and
1.97 Å). A pre-relaxed structure with fewer symmetry operations than its start is thrown
away and the campaign's model relaxes from the start, so the cascade never decides a
symmetry; a band's mirror is found from its endpoints, which the campaign's model relaxed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pymatgen.core import Structure


@dataclass(frozen=True)
class Cascade:
    """The cheap model of a cascade and how far it goes (``calculator.cascade``)."""

    model: str = "chgnet-0.2.0"
    model_kwargs: dict = field(default_factory=dict)
    relax_fmax: float = 0.15  # eV/Å: where the cheap relax stops
    band_fmax: float = 0.3  # eV/Å: NEB force where the cheap band stops (no climbing image)
    steps: int = 200  # optimiser steps of each cheap stage
    symprec: float = 0.1  # Å: symmetry operations counted at this tolerance

    def calculator(self) -> tuple[str, dict[str, Any]]:
        """(atomate2 force-field name, calculator keywords) of the cheap model."""
        from mvflows.models import resolve_model

        return resolve_model(self.model, dict(self.model_kwargs))


def symmetry_operations(structure: Structure, symprec: float) -> int:
    """How many space-group operations map ``structure`` (in its own cell) onto itself."""
    from pymatgen.symmetry.analyzer import SpacegroupAnalyzer

    return len(SpacegroupAnalyzer(structure, symprec=symprec).get_symmetry_operations())


def prerelaxed(
    cascade: Cascade, structure: Structure, relax_cell: bool, relax_shape: bool, optimizer_kwargs: dict
) -> tuple[Structure, str]:
    """``structure`` relaxed by the cheap model to ``cascade.relax_fmax``, or unchanged; and why.

    Unchanged when the cheap relax lost symmetry operations (the note says how many).
    """
    from atomate2.ase.utils import AseRelaxer

    from mvflows.models import cached_calculator

    name, kwargs = cascade.calculator()
    relaxer = AseRelaxer(
        cached_calculator(name, **kwargs), relax_cell=relax_cell, relax_shape=relax_shape, **optimizer_kwargs
    )
    result = relaxer.relax(
        structure.copy(), steps=cascade.steps, fmax=cascade.relax_fmax, final_atoms_object_file=None
    )
    out = result.final_mol_or_struct
    before = symmetry_operations(structure, cascade.symprec)
    after = symmetry_operations(out, cascade.symprec)
    if after < before:
        return structure, (
            f"cascade: {cascade.model}'s relax broke the symmetry ({before} -> {after} operations); not used"
        )
    return out, f"cascade: pre-relaxed by {cascade.model} to fmax {cascade.relax_fmax}"


def preconverged_band(
    cascade: Cascade, images: list[Structure], workers: int, neb_kwargs: dict, optimizer: str
) -> tuple[list[Structure], str]:
    """The band's moving images after the cheap model's band to ``cascade.band_fmax`` (no climbing
    image, no guard), between the given endpoints; and the note saying what it cost."""
    from mvflows.image_workers import ImageEvaluator
    from mvflows.neb_band import run_band

    name, kwargs = cascade.calculator()
    cheap = ImageEvaluator(name, kwargs, workers=workers)
    run = run_band(
        list(images),
        cheap,
        fmax=cascade.band_fmax,
        steps=cascade.steps,
        neb_kwargs={**neb_kwargs, "climb": False},
        optimizer=optimizer,
        preclimb_fmax=None,
    )
    moved = [images[0], *run.result.images[1:-1], images[-1]]
    note = (
        f"cascade: band pre-converged by {cascade.model} to NEB force {run.max_neb_force:.3f} eV/A "
        f"in {run.force_calls} force calls"
    )
    return moved, note
