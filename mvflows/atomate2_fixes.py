"""Every work-around for known atomate2 behaviour, in one place.

1. ``ForceFieldNebFromEndpointsMaker.make`` takes ``(images, prev_dir)``, so it cannot be
   called with endpoints and a number of images. mvflows never uses it: endpoints are
   relaxed with a ``ForceFieldRelaxMaker`` and the path goes to the from-images maker.
2. The ASE NEB makers default to ``neb_kwargs={}``, which silently replaces ASE-level
   defaults of ``climb=True, method="improvedtangent"``: no climbing image unless set.
   :func:`neb_kwargs` always states both.
3. ``AseNebFromImagesMaker.run_ase`` does not forward an optimiser choice (FIRE is
   hard-wired); :class:`mvflows.calculators.MvNebMaker` runs its own band
   (:mod:`mvflows.neb_band`) with a selectable optimiser.
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
   :func:`tag_neb_convergence` tags by the NEB force of the final band instead.
8. atomate2's VASP makers answer an unconverged run as ``VASP_HANDLE_UNSUCCESSFUL`` says;
   with ``True`` they return ``stop_children``, which would also stop the pair result, so
   the pair would vanish instead of being reported ``failed``. mvflows' VASP makers pass
   ``stop_children_kwargs={"handle_unsuccessful": "error"}``
   (:meth:`mvflows.vasp.makers.VaspCalculator._kwargs`): the job fails, the pair result
   runs and says why.
9. atomate2 hands CHGNet's calculator keywords to ``CHGNetCalculator``, whose ``model``
   takes a loaded model, not a checkpoint name, so atomate2 can only run CHGNet 0.3.0.
   :func:`load_chgnet_checkpoint` loads the named checkpoint (``0.2.0``, ``r2scan``) first
   (called by :func:`mvflows.models.cached_calculator`).
"""

from __future__ import annotations

from typing import Any

LEAN_IONIC_STEP_DATA: tuple[str, ...] = ("energy",)
NEB_CONVERGED_TAG = "neb force converged"
NEB_NOT_CONVERGED_TAG = "neb force not converged"


def neb_kwargs(climb: bool = True, method: str = "improvedtangent") -> dict:
    """NEB keyword arguments to give the ASE NEB makers explicitly (fix 2)."""
    return {"climb": climb, "method": method}


def tag_neb_convergence(result: Any, max_neb_force: float, fmax: float) -> Any:
    """Tag a NebResult converged by the NEB force of its final band, not raw forces (fix 7)."""
    tags = [t for t in (result.tags or []) if "converged" not in str(t)]
    tags.append(NEB_CONVERGED_TAG if max_neb_force < fmax else NEB_NOT_CONVERGED_TAG)
    tags.append(f"neb max force {max_neb_force:.4f} eV/A")
    result.tags = tags
    return result


def load_chgnet_checkpoint(kwargs: dict[str, Any]) -> dict[str, Any]:
    """CHGNet keywords with a checkpoint name (``model: "0.2.0"``) replaced by the loaded model (fix 9)."""
    name = kwargs.get("model")
    if not isinstance(name, str):
        return kwargs
    from chgnet.model import CHGNet

    return {**kwargs, "model": CHGNet.load(model_name=name, verbose=False)}
