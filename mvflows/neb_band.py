"""A faster NEB band for force fields: every moving image evaluated together, staged climb.

All images of a step are evaluated in one call over worker processes that keep the
model (:mod:`mvflows.image_workers`). The optimiser first relaxes the band
without the climbing image to a loose force, then climbs: the climbing image only
makes sense once the band lies near the path.

A symmetric hop (both spinel hops are) maps onto itself reversed by a symmetry
operation through the void in the middle; then only the first half of the band and its
middle image are computed and the rest is mapped (:class:`Mirror`). That also lets both
symmetric maxima climb, where ASE's single climbing image leaves the band oscillating
between two equal maxima. Mg in Cr2S4, 7 images, fmax 0.05 (benchmarks/neb.py): 366
force calls for atomate2's stock maker, 261 on this band without the mirror (FIRE), 163
mirrored (FIRE), 79 mirrored with ASE's ODE optimiser.
"""

from __future__ import annotations

import functools
import math
import os
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
from ase import Atoms
from ase.calculators.calculator import Calculator, all_changes
from ase.mep.neb import NEB
from emmet.core.neb import NebMethod, NebResult
from pymatgen.core import Structure
from pymatgen.io.ase import AseAtomsAdaptor

from mvflows.image_workers import Evaluate


# ---------------------------------------------------------------- the band
class _Pushed(Calculator):
    """Holds results the band pushes in; computes alone only if asked for something new."""

    implemented_properties = ["energy", "free_energy", "forces"]

    def __init__(self, evaluate: Evaluate) -> None:
        super().__init__()
        self._evaluate = evaluate

    def push(self, atoms: Atoms, energy: float, forces: np.ndarray) -> None:
        self.atoms = atoms.copy()
        self.results = {"energy": energy, "free_energy": energy, "forces": forces}

    def calculate(self, atoms=None, properties=None, system_changes=all_changes):  # type: ignore[no-untyped-def]
        super().calculate(atoms, properties, system_changes)
        ((energy, forces),) = self._evaluate([self.atoms])
        self.results = {"energy": energy, "free_energy": energy, "forces": forces}


@dataclass
class Mirror:
    """An isometry x -> R x + t of the cell that maps the band onto itself reversed.

    A symmetric hop (tet -> oct -> tet through an inversion centre, oct -> tet -> oct
    through a two-fold axis or mirror) has one: image k of the band is the image of
    image N+1-k. Then only the first half of the band and its middle need the model.
    """

    rotation: np.ndarray
    translation: np.ndarray
    permutation: np.ndarray  # atom i goes to atom permutation[i]
    max_mismatch: float  # Å, endpoint -> other endpoint

    def positions(self, positions: np.ndarray, like: np.ndarray, cell: np.ndarray) -> np.ndarray:
        """Mapped positions, each moved by lattice vectors next to ``like`` (no wrap jumps)."""
        mapped = np.empty_like(positions)
        mapped[self.permutation] = positions @ self.rotation.T + self.translation
        frac = np.linalg.solve(cell.T, (mapped - like).T).T
        return mapped - np.round(frac) @ cell

    def vectors(self, vectors: np.ndarray) -> np.ndarray:
        mapped = np.empty_like(vectors)
        mapped[self.permutation] = vectors @ self.rotation.T
        return mapped


def find_mirror(first: Atoms, last: Atoms, middle: Atoms | None = None, tol: float = 0.15) -> Mirror | None:
    """The involution that maps ``first`` onto ``last`` atom by atom and fixes the path's middle.

    Candidates are the lattice's point operations (spglib through pymatgen); the
    translation follows from the atom that moves most between the endpoints (the ion).
    The map must be its own inverse in space (R t + t = 0, not only up to a lattice
    vector) and keep the ion of ``middle`` in place, else it maps the path onto a
    different, equivalent one.
    """
    from pymatgen.core import Lattice
    from pymatgen.core import Structure as _S
    from pymatgen.symmetry.analyzer import SpacegroupAnalyzer

    if len(first) != len(last) or (first.numbers != last.numbers).any():
        return None
    cell = np.array(first.cell)
    lattice_only = _S(Lattice(cell), ["H"], [[0, 0, 0]])
    ops = SpacegroupAnalyzer(lattice_only, symprec=0.05).get_point_group_operations(cartesian=True)
    x0, x1 = first.positions, last.positions
    d = x1 - x0
    frac = np.linalg.solve(cell.T, d.T).T
    d -= np.round(frac) @ cell
    ion = int(np.argmax(np.linalg.norm(d, axis=1)))
    best: Mirror | None = None
    for op in ops:
        rot = np.array(op.rotation_matrix)
        if not np.allclose(rot @ rot, np.eye(3), atol=1e-3):
            continue
        t = x0[ion] + d[ion] - rot @ x0[ion]
        if np.linalg.norm(rot @ t + t) > 1e-3:
            continue
        if (
            middle is not None
            and np.linalg.norm(rot @ middle.positions[ion] + t - middle.positions[ion]) > tol
        ):
            continue
        mapped = x0 @ rot.T + t
        perm = np.full(len(first), -1)
        worst = 0.0
        for i, pos in enumerate(mapped):
            diff = x1 - pos
            f = np.linalg.solve(cell.T, diff.T).T
            dist = np.linalg.norm(diff - np.round(f) @ cell, axis=1)
            dist[last.numbers != first.numbers[i]] = np.inf
            j = int(np.argmin(dist))
            perm[i] = j
            worst = max(worst, float(dist[j]))
            if worst > tol:
                break
        one_to_one = worst <= tol and len(set(perm.tolist())) == len(first)
        if one_to_one and (best is None or worst < best.max_mismatch):
            best = Mirror(rot, t, perm, worst)
    return best


class BandNEB(NEB):
    """ASE's NEB whose images are all evaluated in one call per step (see module doc).

    With a :class:`Mirror`, the second half of the band is kept as the mirror image of
    the first: positions, energies, forces and NEB forces are mapped, not computed, and
    the middle image stays on the mirror (both symmetric maxima climb together).
    """

    def __init__(
        self, images: list[Atoms], evaluate: Evaluate, mirror: Mirror | None = None, **kwargs: Any
    ) -> None:
        for image in images:
            if not isinstance(image.calc, _Pushed):  # a later stage keeps the pushed results
                image.calc = _Pushed(evaluate)
        super().__init__(images, allow_shared_calculator=False, **kwargs)
        self._evaluate = evaluate
        self.mirror = mirror if (mirror is not None and len(images) % 2 == 1) else None
        if self.mirror is not None:
            self.set_positions(self.get_positions(), adjust_positions=False)

    @property
    def _pairs(self) -> list[tuple[int, int]]:
        n = len(self.images) - 1
        return [(k, n - k) for k in range(1, n // 2)]

    def set_positions(self, positions, adjust_positions=True):  # type: ignore[no-untyped-def]  # noqa: ARG002 - ASE's signature
        super().set_positions(positions)
        if self.mirror is None:
            return
        cell = np.array(self.images[0].cell)
        for k, m in self._pairs:
            self.images[m].set_positions(
                self.mirror.positions(self.images[k].positions, self.images[m].positions, cell)
            )
        mid = self.images[len(self.images) // 2]
        mapped = self.mirror.positions(mid.positions, mid.positions, cell)
        mid.set_positions((mid.positions + mapped) / 2)

    def get_forces(self):  # type: ignore[no-untyped-def]
        unique = (
            self.images
            if self.mirror is None
            else [*self.images[: len(self.images) // 2 + 1], self.images[-1]]
        )
        stale = [img for img in unique if img.calc.check_state(img) or "forces" not in img.calc.results]
        if stale:
            for img, (energy, forces) in zip(stale, self._evaluate(stale)):
                img.calc.push(img, energy, forces)
        if self.mirror is not None:
            for k, m in self._pairs:
                src, dst = self.images[k], self.images[m]
                dst.calc.push(
                    dst, src.calc.results["energy"], self.mirror.vectors(src.calc.results["forces"])
                )
        forces = super().get_forces()
        self._last_forces = forces
        if self.mirror is None:
            return forces
        n = self.natoms
        for k, m in self._pairs:  # the mirror image moves as its partner does (it climbs too)
            forces[(m - 1) * n : m * n] = self.mirror.vectors(forces[(k - 1) * n : k * n])
        # On the mirror the tangent is antisymmetric and the springs balance, so the NEB
        # force of the middle image is the symmetric part of its true force.
        c = len(self.images) // 2
        f_mid = self.images[c].calc.results["forces"]
        forces[(c - 1) * n : c * n] = (f_mid + self.mirror.vectors(f_mid)) / 2
        self._last_forces = forces
        return forces

    def get_residual(self):  # type: ignore[no-untyped-def]
        """Largest atomic NEB force of the band as moved: ASE's own misses the mirror's
        changes, and is empty for a one-image band."""
        return float(np.sqrt((self._last_forces.reshape(-1, 3) ** 2).sum(axis=1)).max())


def _optimizer(name: str):  # type: ignore[no-untyped-def]
    from ase.optimize import BFGS, FIRE, LBFGS, MDMin

    if name == "ODE":
        from ase.mep.neb import NEBOptimizer

        return functools.partial(NEBOptimizer, method="ode")
    return {"FIRE": FIRE, "BFGS": BFGS, "LBFGS": LBFGS, "MDMin": MDMin}[name]


@dataclass(frozen=True)
class DipGuard:
    """What a band does when it passes below its relaxed endpoints (issue: bands that go wrong).

    An image more than ``tolerance_ev`` below the lower endpoint is a configuration lower
    than the hop's minimum: the barrier (max - min) would then be measured from a point
    that is not the intended site, and the band spends its steps sliding into it (Ca in
    Fe2S4 on SevenNet-0: 475 force calls, the other bands 39-131). The band stops at once;
    the nearer endpoint is relaxed from the lowest image (fixed cell, ``endpoint_fmax``,
    at most ``endpoint_steps`` force calls; a mirrored band's other end is its symmetry
    image) and the band restarts from where it was, at most ``restarts`` times, within the
    band's own step budget. A dip at the middle image (the intermediate site lower than
    both ends) or one left after the restarts stops the band: its NebResult is ``failed``
    with the reason as a tag starting with :data:`DIP_STOP_TAG`.
    """

    tolerance_ev: float = 0.02
    endpoint_fmax: float = 0.02
    endpoint_steps: int = 300
    restarts: int = 1


DIP_RESTART_TAG = "endpoint re-relaxed from the band"
DIP_STOP_TAG = "band stopped"


class _Dipped(Exception):
    def __init__(self, image: int, dip: float) -> None:
        super().__init__(f"image {image} lies {dip:.3f} eV below the endpoints")
        self.image, self.dip, self.steps = image, dip, 0


def _lowest_below_endpoints(images: list[Atoms], tolerance: float) -> tuple[int, float] | None:
    """(index, depth) of the lowest moving image when it lies > ``tolerance`` below both endpoints."""
    energies = [img.calc.results.get("energy") if img.calc is not None else None for img in images]
    if any(e is None for e in energies):
        return None
    k = int(np.argmin(energies[1:-1])) + 1
    dip = float(min(energies[0], energies[-1]) - energies[k])
    return (k, dip) if dip > tolerance else None


def _relax_image(image: Atoms, evaluate: Evaluate, fmax: float, steps: int) -> tuple[Atoms, int]:
    """The configuration of one band image (as last evaluated), relaxed at fixed cell."""
    from ase.optimize import BFGS

    atoms = (
        image.calc.atoms.copy() if image.calc is not None and image.calc.atoms is not None else image.copy()
    )
    atoms.calc = _Pushed(evaluate)
    opt = BFGS(atoms, logfile=None)
    opt.run(fmax=fmax, steps=steps)
    atoms.get_forces()  # pushed results for the band's first evaluation
    return atoms, opt.nsteps


@dataclass
class BandRun:
    """What one band optimisation did: the NEB document plus its cost."""

    result: NebResult
    force_calls: int
    steps: int
    seconds: float
    max_neb_force: float
    mirrored: bool = False
    restarts: int = 0
    stopped: str | None = None  # why a dip stopped the band


def _run(opt: Any, band: BandNEB, guard: DipGuard | None, fmax: float, steps: int) -> tuple[bool, int]:
    """One optimiser run; (converged, steps). A dip the guard sees raises :class:`_Dipped`
    after the step that showed it, with the steps taken."""

    def watch() -> None:
        assert guard is not None
        found = _lowest_below_endpoints(band.images, guard.tolerance_ev)
        if found is not None:
            raise _Dipped(*found)

    if guard is not None:
        opt.attach(watch, interval=1)
    try:
        return bool(opt.run(fmax=fmax, steps=max(steps, 0))), opt.nsteps
    except _Dipped as dip:
        dip.steps = opt.nsteps
        raise


def _optimise(
    atoms: list[Atoms],
    evaluate: Evaluate,
    mirror: Mirror | None,
    stages: list[dict],
    fmax: float,
    preclimb_fmax: float | None,
    steps: int,
    optimizer: str,
    guard: DipGuard | None,
) -> tuple[BandNEB, bool, int, int]:
    """Run the band's stages on ``atoms`` in place; (band, converged, steps, ODE handovers)."""
    done = 0
    converged = False
    band = None
    handovers = 0  # ODE stages finished by FIRE
    for k, kwargs in enumerate(stages):
        band = BandNEB(atoms, evaluate, mirror=mirror, **kwargs)
        target = max(preclimb_fmax, fmax) if k < len(stages) - 1 else fmax
        try:
            converged, n = _run(_optimizer(optimizer)(band, logfile=None), band, guard, target, steps - done)
            done += n
            if not converged and optimizer == "ODE" and done < steps:
                # ASE's ODE solver gives up when its adaptive step shrinks to nothing, which
                # happened near convergence (10 of 12 spinel bands stopped at 0.05-0.075 eV/Å
                # with fmax 0.05); FIRE finishes from there within the same step budget
                # (LBFGS did not converge a Lennard-Jones test band in 400 steps).
                converged, n = _run(_optimizer("FIRE")(band, logfile=None), band, guard, target, steps - done)
                done += n
                handovers += 1
        except _Dipped as dip:
            dip.steps += done
            raise
        if not converged:
            break
    assert band is not None
    return band, converged, done, handovers


def _restart(
    atoms: list[Atoms], dip: _Dipped, evaluate: Evaluate, mirror: Mirror | None, guard: DipGuard
) -> str:
    """Relax the endpoint nearer the dip from the lowest image, in ``atoms``; the note saying so."""
    side = 0 if dip.image < len(atoms) / 2 else len(atoms) - 1
    before = float(atoms[side].calc.results["energy"])
    relaxed, n = _relax_image(atoms[dip.image], evaluate, guard.endpoint_fmax, guard.endpoint_steps)
    after = float(relaxed.calc.results["energy"])
    atoms[side] = relaxed
    if mirror is not None:  # the other end stays the symmetry image of this one
        other = len(atoms) - 1 - side
        end = atoms[other].copy()
        end.set_positions(mirror.positions(relaxed.positions, atoms[other].positions, np.array(end.cell)))
        end.calc = _Pushed(evaluate)
        end.calc.push(end, after, mirror.vectors(relaxed.calc.results["forces"]))
        atoms[other] = end
    which = "start" if side == 0 else "end"
    return (
        f"{DIP_RESTART_TAG}: image {dip.image} lay {dip.dip:.3f} eV below the endpoints after {dip.steps} "
        f"band steps; the {which} relaxed from it in {n} steps to {before - after:.3f} eV below the relaxed "
        f"{which}{' (the other end its symmetry image)' if mirror is not None else ''}; the band restarted"
    )


def run_band(
    images: list[Structure],
    evaluate: Evaluate,
    fmax: float,
    steps: int,
    neb_kwargs: dict,
    optimizer: str = "ODE",
    preclimb_fmax: float | None = 0.3,
    use_mirror: bool = True,
    guard: DipGuard | None = None,
) -> BandRun:
    """Optimise a band (endpoints included in ``images``) and return a NebResult.

    With ``climb`` in ``neb_kwargs`` and ``preclimb_fmax`` set, the band is first relaxed
    without climbing to ``max(preclimb_fmax, fmax)`` and then with the climbing image to
    ``fmax``; both stages share the ``steps`` budget. With ``use_mirror`` and a symmetric
    hop (:func:`find_mirror`), only the first half of the band is computed. With a
    ``guard``, a band that dips below its endpoints restarts or stops (:class:`DipGuard`);
    its steps, restarts included, stay within ``steps``.
    """
    t0 = time.perf_counter()
    atoms = [AseAtomsAdaptor.get_atoms(s) for s in images]
    mirror = (
        find_mirror(atoms[0], atoms[-1], atoms[len(atoms) // 2])
        if use_mirror and len(atoms) % 2 == 1 and len(atoms) > 3
        else None
    )
    climb = bool(neb_kwargs.get("climb", False))
    stages = [dict(neb_kwargs)]
    if climb and preclimb_fmax and preclimb_fmax > fmax:
        stages = [{**neb_kwargs, "climb": False}, dict(neb_kwargs)]
    done = handovers = restarts = 0
    notes: list[str] = []
    stopped = None
    while True:
        try:
            band, converged, n, h = _optimise(
                atoms, evaluate, mirror, stages, fmax, preclimb_fmax, steps - done, optimizer, guard
            )
            done, handovers = done + n, handovers + h
            break
        except _Dipped as dip:
            assert guard is not None
            done += dip.steps
            middle = len(atoms) % 2 == 1 and dip.image == len(atoms) // 2
            if middle or restarts >= guard.restarts or done >= steps:
                why = "its middle image (the intermediate site) lies" if middle else f"image {dip.image} lies"
                again = f" after {restarts} endpoint re-relax" if restarts else ""
                stopped = (
                    f"{DIP_STOP_TAG} after {done} steps{again}: {why} {dip.dip:.3f} eV below both endpoints, "
                    "so they are not the minima of this hop"
                )
                band, converged = None, False
                break
            restarts += 1
            notes.append(_restart(atoms, dip, evaluate, mirror, guard))
    if band is not None:
        forces = band.get_forces().reshape(-1, 3)
        max_force = float(np.sqrt((forces**2).sum(axis=1)).max())
    else:
        max_force = math.inf
    energies = [float(a.get_potential_energy()) for a in atoms]
    result = NebResult(
        images=[AseAtomsAdaptor.get_structure(a) for a in atoms],
        image_indices=list(range(len(atoms))),
        initial_images=[s.copy() for s in images],
        energies=energies,
        method=NebMethod.CLIMBING_IMAGE if climb else NebMethod.STANDARD,
        dir_name=os.getcwd(),
        state="successful" if converged else "failed",
        tags=[
            f"optimiser steps {done}",
            *([f"ODE stopped early {handovers}x, finished with FIRE"] if handovers else []),
            f"force calls {getattr(evaluate, 'calls', 'n/a')}",
            "band: mirror-symmetric half computed" if mirror else "band: every image computed",
            *notes,
            *([stopped] if stopped else []),
        ],
    )
    return BandRun(
        result=result,
        force_calls=int(getattr(evaluate, "calls", 0)),
        steps=done,
        seconds=time.perf_counter() - t0,
        max_neb_force=max_force,
        mirrored=mirror is not None,
        restarts=restarts,
        stopped=stopped,
    )
