"""mvflows' NEB band: the mirror of a symmetric hop and the work it saves (no model needed)."""

from __future__ import annotations

import numpy as np
import pytest
from ase.calculators.lj import LennardJones
from pymatgen.io.ase import AseAtomsAdaptor

from mvflows.neb_band import BandNEB, find_mirror, run_band
from mvflows.neb_path import hop_images, spinel_hop
from mvflows.structures import charged_spinel


class LJEvaluator:
    """A cheap stand-in for the model: Lennard-Jones energies and forces, calls counted."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, structures):
        self.calls += len(structures)
        out = []
        for a in structures:
            b = a.copy()
            b.calc = LennardJones(sigma=2.0, epsilon=0.01, rc=5.0)
            out.append((float(b.get_potential_energy()), np.array(b.get_forces())))
        return out


def _band(site: str, n: int = 5):
    hop = spinel_hop(charged_spinel("Cr"), "Mg", site)
    images = hop_images(hop.start, hop.end, hop.via, n)
    return hop, [AseAtomsAdaptor.get_atoms(s) for s in images]


@pytest.mark.parametrize("site", ["tet", "oct"])
def test_mirror_maps_the_hop_onto_itself_reversed(site):
    hop, atoms = _band(site)
    mirror = find_mirror(atoms[0], atoms[-1], atoms[len(atoms) // 2])
    assert mirror is not None
    assert np.allclose(mirror.rotation @ mirror.rotation, np.eye(3), atol=1e-6)
    assert np.linalg.norm(mirror.rotation @ mirror.translation + mirror.translation) < 1e-3
    cell = np.array(atoms[0].cell)
    mapped = mirror.positions(atoms[0].positions, atoms[-1].positions, cell)
    assert np.abs(mapped - atoms[-1].positions).max() < 1e-3
    via = np.array(hop.via)
    assert np.linalg.norm(mirror.rotation @ via + mirror.translation - via) < 1e-3


def test_no_mirror_for_unrelated_endpoints():
    _, atoms = _band("tet")
    other = atoms[-1].copy()
    other.positions[0] += [0.4, 0.0, 0.0]  # one framework atom off: not a symmetric pair
    assert find_mirror(atoms[0], other, atoms[len(atoms) // 2]) is None


def test_mirrored_images_get_the_forces_they_would_have():
    _, atoms = _band("tet", n=5)
    mirror = find_mirror(atoms[0], atoms[-1], atoms[3])
    lj = LJEvaluator()
    band = BandNEB([a.copy() for a in atoms], lj, mirror=mirror, climb=True, method="improvedtangent")
    band.get_forces()
    assert lj.calls == 5  # endpoints, images 1-3; images 4 and 5 are mirrored, not computed
    direct = LJEvaluator()
    for k in (4, 5):
        ((energy, forces),) = direct([band.images[k]])
        assert band.images[k].get_potential_energy() == pytest.approx(energy, abs=1e-6)
        assert np.abs(band.images[k].get_forces() - forces).max() < 1e-6


def test_band_run_with_and_without_mirror_agree():
    """Same barrier with less work. (With two symmetric maxima the plain band, where only one
    image may climb, measured here: 400 steps without converging, against 40 mirrored.)"""
    _, atoms = _band("tet", n=3)
    structures = [AseAtomsAdaptor.get_structure(a) for a in atoms]
    runs = {}
    for use_mirror, steps in ((True, 400), (False, 120)):
        lj = LJEvaluator()
        runs[use_mirror] = (
            run_band(
                structures,
                lj,
                fmax=0.02,
                steps=steps,
                neb_kwargs={"climb": True, "method": "improvedtangent"},
                use_mirror=use_mirror,
                optimizer="FIRE",
            ),
            lj.calls,
        )
    (mirrored, n_mirrored), (full, n_full) = runs[True], runs[False]
    assert mirrored.mirrored and not full.mirrored
    assert mirrored.result.state == "successful"
    e_m = np.array(mirrored.result.energies) - mirrored.result.energies[0]
    e_f = np.array(full.result.energies) - full.result.energies[0]
    assert e_m.max() == pytest.approx(e_f.max(), abs=0.01)
    assert n_mirrored < n_full


def test_an_ode_band_that_gives_up_is_finished_by_fire(monkeypatch):
    # ASE's ODE solver raises "step size too small" near convergence on real bands; here it
    # gives up at once, and the band must still converge within the same step budget.
    from ase.mep.neb import NEBOptimizer

    monkeypatch.setattr(NEBOptimizer, "run", lambda self, fmax=0.05, steps=100, method=None: False)
    _, atoms = _band("tet", n=3)
    structures = [AseAtomsAdaptor.get_structure(a) for a in atoms]
    run = run_band(
        structures,
        LJEvaluator(),
        fmax=0.02,
        steps=400,
        neb_kwargs={"climb": True, "method": "improvedtangent"},
        optimizer="ODE",
    )
    assert run.result.state == "successful" and run.max_neb_force < 0.02
    assert any("finished with FIRE" in t for t in run.result.tags)


@pytest.mark.parametrize("n", [1, 3])
def test_ode_band_converges_with_one_or_more_images(n):
    _, atoms = _band("tet", n=n)
    structures = [AseAtomsAdaptor.get_structure(a) for a in atoms]
    run = run_band(
        structures,
        LJEvaluator(),
        fmax=0.02,
        steps=400,
        neb_kwargs={"climb": True, "method": "improvedtangent"},
        optimizer="ODE",
    )
    assert run.result.state == "successful" and run.max_neb_force < 0.02
