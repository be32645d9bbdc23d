"""Every work-around for known atomate2 behaviour, in one place.

1. ``ForceFieldNebFromEndpointsMaker.make`` takes ``(images, prev_dir)``, so it cannot be
   called with endpoints and a number of images. mvflows never uses it: endpoints are
   relaxed with a ``ForceFieldRelaxMaker`` and the path goes to the from-images maker.
2. The ASE NEB makers default to ``neb_kwargs={}``, which silently replaces ASE-level
   defaults of ``climb=True, method="improvedtangent"``: no climbing image unless set.
   :func:`neb_kwargs` always states both.
3. ``AseNebFromImagesMaker.run_ase`` does not forward an optimiser choice (FIRE is
   hard-wired); :class:`mvflows.calculators.MvNebMaker` passes one through.
4. NEB between unrelaxed endpoints gives a meaningless barrier: the NEB flow always
   relaxes both endpoints in the fixed supercell first.
5. Force-field task documents keep the relaxation trajectory, which can exceed MongoDB's
   16 MB limit: relax makers keep only energies per ionic step and no trajectory
   (:data:`LEAN_IONIC_STEP_DATA`), and atomate2 already sends ``trajectory`` and
   ``ionic_steps`` to the job store's ``data`` store.
6. Every atomate2 job deserialises a new Maker and so loads the model again (5 s for
   SevenNet-0 on this CPU); :func:`mvflows.calculators.cached_calculator` keeps one
   calculator per model and settings per process.
7. ``AseNebInterface.run_neb`` tags an NEB "force converged" only when every raw atomic
   force is below fmax. Along a path the raw force has a component parallel to the path
   that NEB projects out, so the tag reads "not converged" even for a converged band.
   :func:`retag_neb_convergence` replaces it with the NEB force of the final band.
"""

from __future__ import annotations

from copy import deepcopy
from typing import Any

import numpy as np
from pymatgen.io.ase import AseAtomsAdaptor

LEAN_IONIC_STEP_DATA: tuple[str, ...] = ("energy",)
NEB_CONVERGED_TAG = "neb force converged"
NEB_NOT_CONVERGED_TAG = "neb force not converged"


def neb_kwargs(climb: bool = True, method: str = "improvedtangent") -> dict:
    """NEB keyword arguments to give the ASE NEB makers explicitly (fix 2)."""
    return {"climb": climb, "method": method}


def neb_max_force(images: list, calculator: Any, kwargs: dict) -> float:
    """Largest NEB force (eV/Å) of a band's moving images: what the optimiser minimises."""
    from ase.mep.neb import NEB

    atoms = [AseAtomsAdaptor.get_atoms(s) for s in images]
    for a in atoms:
        a.calc = deepcopy(calculator)
    band = NEB(atoms, **kwargs)
    forces = band.get_forces().reshape(-1, 3)
    return float(np.sqrt((forces**2).sum(axis=1)).max())


def retag_neb_convergence(result: Any, calculator: Any, kwargs: dict, fmax: float) -> Any:
    """Replace atomate2's raw-force convergence tag of a NebResult by the NEB force (fix 7)."""
    fnorm = neb_max_force(result.images, calculator, kwargs)
    tags = [t for t in (result.tags or []) if "converged" not in str(t)]
    tags.append(NEB_CONVERGED_TAG if fnorm < fmax else NEB_NOT_CONVERGED_TAG)
    tags.append(f"neb max force {fnorm:.4f} eV/A")
    result.tags = tags
    return result
