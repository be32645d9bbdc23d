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


# ---------------------------------------------------------------- bands that dip below their ends
class WellEvaluator:
    """The last atom (the ion) in a potential of its x: ``well(u)``, u = x - 5 Å, plus a
    harmonic pull onto the line y = z = 5 Å; the other atoms feel nothing. Calls counted."""

    def __init__(self, well) -> None:
        self.well, self.calls = well, 0

    def __call__(self, structures):
        self.calls += len(structures)
        out = []
        for a in structures:
            x, y, z = a.positions[-1] - 5.0
            h, dh = self.well(x)
            forces = np.zeros((len(a), 3))
            forces[-1] = [-dh, -2 * y, -2 * z]
            out.append((float(h + y * y + z * z), forces))
        return out


def _double_well(u):
    """Minima at u = +-1 (0 eV), a 1 eV barrier at u = 0."""
    return (u * u - 1) ** 2, 4 * u * (u * u - 1)


def _line_band(start: float, end: float, n: int):
    """Two spectator atoms and the ion, which moves along x from ``start`` to ``end`` (Å from the middle)."""
    from pymatgen.core import Lattice, Structure

    frames = []
    for t in np.linspace(0, 1, n + 2):
        u = start + t * (end - start)
        frames.append(
            Structure(
                Lattice.cubic(10.0),
                ["S", "S", "Mg"],
                [[5, 7, 5], [5, 3, 5], [5 + u, 5, 5]],
                coords_are_cartesian=True,
            )
        )
    return frames


def _guarded(images, evaluate, guard, use_mirror=True):
    from mvflows.neb_band import run_band

    return run_band(
        images,
        evaluate,
        fmax=0.02,
        steps=400,
        neb_kwargs={"climb": True, "method": "improvedtangent"},
        optimizer="FIRE",
        use_mirror=use_mirror,
        guard=guard,
    )


@pytest.mark.parametrize("use_mirror", [True, False])
def test_a_band_below_its_unrelaxed_endpoints_restarts_from_its_lowest_image(use_mirror):
    """Ends on the shoulders of a double well (0.48 eV up): the band slides into the wells.
    Guarded, it re-relaxes an end from its lowest image and measures the 1 eV barrier from the
    well; unguarded, its profile starts 0.48 eV above its own minimum."""
    from mvflows.neb_band import DIP_RESTART_TAG, DipGuard

    images = _line_band(-1.3, 1.3, 5)
    plain = _guarded(images, WellEvaluator(_double_well), None, use_mirror)
    dip = min(plain.result.energies[0], plain.result.energies[-1]) - min(plain.result.energies)
    assert dip > 0.4  # the trap is real

    calls = WellEvaluator(_double_well)
    run = _guarded(images, calls, DipGuard(tolerance_ev=0.02, endpoint_fmax=0.01), use_mirror)
    e = np.array(run.result.energies)
    assert run.mirrored is use_mirror
    assert run.result.state == "successful" and run.restarts == 1 and run.stopped is None
    assert e[0] == pytest.approx(0.0, abs=1e-3)  # the start is the well now, not the shoulder
    if use_mirror:
        assert e[-1] == pytest.approx(0.0, abs=1e-3)  # and the end its symmetry image
    assert e.max() - e.min() == pytest.approx(1.0, abs=0.02)
    assert min(e[0], e[-1]) - e.min() <= 0.02
    assert any(t.startswith(DIP_RESTART_TAG) for t in run.result.tags)
    assert run.steps <= 400


def test_a_band_whose_middle_is_lowest_stops_at_once():
    """A single well in the middle: the ends are not minima of this hop, and no endpoint
    relaxed from the middle could be; the band stops failed within a few steps."""
    from mvflows.neb_band import DIP_STOP_TAG, DipGuard

    calls = WellEvaluator(lambda u: (u * u, 2 * u))
    run = _guarded(_line_band(-1.3, 1.3, 5), calls, DipGuard(), use_mirror=True)
    assert run.result.state == "failed" and run.stopped and run.restarts == 0
    assert "middle image" in run.stopped
    assert any(t.startswith(DIP_STOP_TAG) for t in run.result.tags)
    assert run.steps < 50 and calls.calls < 200


def test_a_band_that_dips_again_after_its_restarts_stops():
    from mvflows.neb_band import DIP_STOP_TAG, DipGuard

    run = _guarded(
        _line_band(-1.3, 1.3, 5), WellEvaluator(_double_well), DipGuard(restarts=0), use_mirror=False
    )
    assert run.result.state == "failed" and run.restarts == 0
    assert any(t.startswith(DIP_STOP_TAG) for t in run.result.tags)
    assert run.max_neb_force == float("inf")


def test_the_summary_flags_a_restarted_band_and_fails_a_stopped_one():
    from mvflows.atomate2_fixes import tag_neb_convergence
    from mvflows.jobs.hop_neb import summarise_neb
    from mvflows.neb_band import DipGuard

    summaries = {}
    for restarts in (1, 0):
        run = _guarded(_line_band(-1.3, 1.3, 5), WellEvaluator(_double_well), DipGuard(restarts=restarts))
        neb = tag_neb_convergence(run.result, run.max_neb_force, 0.02)
        e0 = neb.energies[0]
        summaries[restarts] = summarise_neb.original(neb, e0, None, "tet-oct-tet", 2.6, 0.02, "u")
    restarted, stopped = summaries[1], summaries[0]
    assert restarted.converged and restarted.failure_reasons == []
    assert restarted.barrier_ev == pytest.approx(1.0, abs=0.02)
    assert len(restarted.flag_reasons) == 1 and "re-relaxed" in restarted.flag_reasons[0]
    assert not stopped.converged
    assert any(r.startswith("band stopped") for r in stopped.failure_reasons)
    assert not any("step limit" in r for r in stopped.failure_reasons)


def test_the_campaign_sets_the_guard_of_its_force_field_bands():
    from mvflows.calculators import calculator_for
    from mvflows.campaign import Campaign
    from mvflows.flows import _hop_neb
    from mvflows.neb_band import DipGuard

    def guard(**neb):
        campaign = Campaign(name="t", hosts=["Cr2S4"], intercalants=["Mg"], neb=neb)
        return _hop_neb(campaign, calculator_for(campaign.calculator), mirror_end=True).neb_maker.guard

    assert guard() == DipGuard(tolerance_ev=0.02, endpoint_fmax=0.02, endpoint_steps=300, restarts=1)
    assert guard(symmetric_tolerance_ev=0.05, dip_restarts=0) == DipGuard(0.05, 0.02, 300, 0)
    assert guard(dip_restarts=None) is None
