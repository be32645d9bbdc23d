"""The model cascade: the cheap model moves first, the campaign's model decides every number."""

from __future__ import annotations

import numpy as np
import pytest
from pymatgen.core import Lattice, Structure

from mvflows.cascade import Cascade, preconverged_band, prerelaxed, symmetry_operations


def _rocksalt(a: float = 5.9) -> Structure:
    return Structure.from_spacegroup("Fm-3m", Lattice.cubic(a), ["Mg", "S"], [[0, 0, 0], [0.5] * 3])


def test_a_cheap_relax_that_breaks_the_symmetry_is_thrown_away(monkeypatch):
    from atomate2.ase.utils import AseRelaxer

    start = _rocksalt().to_conventional()
    broken = start.copy()
    broken.translate_sites([0], [0.03, 0.0, 0.0])  # one ion off its site: fewer operations

    class Result:
        final_mol_or_struct = broken

    monkeypatch.setattr(AseRelaxer, "relax", lambda self, *a, **k: Result())
    monkeypatch.setattr("mvflows.models.cached_calculator", lambda *a, **k: None)
    assert symmetry_operations(broken, 0.01) < symmetry_operations(start, 0.01)
    out, note = prerelaxed(Cascade(symprec=0.01), start, True, False, {})
    assert out is start and "broke the symmetry" in note

    kept = start.copy()
    kept.scale_lattice(start.volume * 1.05)  # same symmetry, another volume: the cheap relax is used
    Result.final_mol_or_struct = kept
    out, note = prerelaxed(Cascade(symprec=0.01), start, True, False, {})
    assert out is kept and "pre-relaxed" in note


@pytest.mark.slow
def test_a_cascaded_relax_ends_where_the_single_level_relax_does(tmp_path, monkeypatch):
    """CHGNet 0.2.0 pre-relaxes, CHGNet 0.3.0 finishes: same cell and energy as 0.3.0 alone."""
    from jobflow import run_locally

    monkeypatch.chdir(tmp_path)  # atomate2's relax writes final_atoms_object.xyz where it runs

    from mvflows.calculators import ForceFieldCalculator

    start = _rocksalt(6.3)
    out = {}
    for cascade in (None, Cascade(model="chgnet-0.2.0")):
        calc = ForceFieldCalculator(model="chgnet-0.3.0", relax_fmax=0.005, cascade=cascade)
        job = calc.relax_maker().make(start)
        doc = run_locally(job, log=False, ensure_success=True)[job.uuid][1].output
        out[cascade is not None] = doc
    single, cascaded = out[False], out[True]
    assert cascaded.output.energy == pytest.approx(single.output.energy, abs=2e-3 * len(start))
    assert cascaded.structure.lattice.a == pytest.approx(single.structure.lattice.a, abs=0.005)


def test_the_cascade_changes_the_keys_and_reaches_every_force_field_maker():
    from mvflows.calculators import calculator_for
    from mvflows.campaign import Campaign

    plain = Campaign(name="t", hosts=["Cr2S4"], intercalants=["Mg"])
    cascaded = Campaign(name="t", hosts=["Cr2S4"], intercalants=["Mg"], calculator={"cascade": {}})
    assert plain.calculator.cascade is None  # off unless asked for
    calc = calculator_for(cascaded.calculator)
    assert calc.cascade == Cascade()
    assert calc.relax_maker().cascade == Cascade()
    assert calc.neb_maker(fmax=0.05, steps=10, climb=True).cascade == Cascade()
    a = calculator_for(plain.calculator).relax_maker().make(_rocksalt())
    b = calc.relax_maker().make(_rocksalt())
    assert a.uuid != b.uuid  # another computation, another content key


def test_an_unknown_cascade_model_is_a_campaign_error():
    from pydantic import ValidationError

    from mvflows.campaign import Campaign

    with pytest.raises(ValidationError, match="cascade"):
        Campaign(name="t", hosts=["Cr2S4"], intercalants=["Mg"], calculator={"cascade": {"model": "nope"}})


def test_a_band_preconverged_by_a_cheap_model_is_finished_by_the_campaigns(monkeypatch):
    """The cheap well is a little off (minima at +-0.95 Å, barrier 0.9 eV): the finished band's
    barrier is the campaign model's 1 eV, and the campaign's model needs fewer calls."""
    from test_neb_band import WellEvaluator, _double_well, _line_band

    import mvflows.image_workers as workers
    from mvflows.neb_band import run_band

    def cheap_well(u):
        s = u / 0.95
        return 0.9 * (s * s - 1) ** 2, 0.9 * 4 * s * (s * s - 1) / 0.95

    monkeypatch.setattr(workers, "ImageEvaluator", lambda *a, **k: WellEvaluator(cheap_well))
    images = _line_band(-1.0, 1.0, 5)
    # a band far from its path: every moving image pushed off the line
    for k, s in enumerate(images[1:-1], start=1):
        s.translate_sites([2], [0, 0.4 * (-1) ** k, 0.3], frac_coords=False)
    kwargs = {"climb": True, "method": "improvedtangent"}

    def finish(band, calls):
        return run_band(band, calls, fmax=0.02, steps=400, neb_kwargs=kwargs, optimizer="FIRE")

    single_calls = WellEvaluator(_double_well)
    single = finish(images, single_calls)
    moved, note = preconverged_band(Cascade(band_fmax=0.1), images, 1, kwargs, "FIRE")
    assert "pre-converged" in note and moved[0] is images[0] and moved[-1] is images[-1]
    cascaded_calls = WellEvaluator(_double_well)
    cascaded = finish(moved, cascaded_calls)
    assert single.result.state == cascaded.result.state == "successful"
    e1, e2 = np.array(single.result.energies), np.array(cascaded.result.energies)
    assert e2.max() - e2.min() == pytest.approx(e1.max() - e1.min(), abs=0.02)
    assert cascaded_calls.calls < single_calls.calls
