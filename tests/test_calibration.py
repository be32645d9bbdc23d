"""Calibration against reference points: the softening fit, the points file, the campaign block.

The fit is checked where the answer is known: a reference that is the model's own energy
surface stiffened by a known factor (ASE's EMT, scaled), on one system's points, must give
that factor back, and the calibrated barrier of another system then equals the stiffened
surface's barrier. The real models (CHGNet calibrated against SevenNet-0) run in
test_calibration_run.py.
"""

from __future__ import annotations

import numpy as np
import pytest
from ase.build import bulk
from ase.calculators.emt import EMT
from conftest import WORKFLOWS, mvflows_cli
from pymatgen.io.ase import AseAtomsAdaptor

from mvflows.calibration import (
    CalibrationError,
    ReferencePoint,
    band_points,
    calibrated_barrier,
    choose_method,
    fit_softening,
    read_points,
    write_points,
)
from mvflows.campaign import CampaignError, load_campaign
from mvflows.reporting import columns_for, notes, to_csv

STIFFER = 1 / 0.7  # the reference's surface: the model's, 1/0.7 times as curved


def _rattled(seed: int, symbol: str = "Cu", n: int = 4) -> list:
    """A few rattled copies of a small cell: structures with forces, all of one composition."""
    rng = np.random.default_rng(seed)
    frames = []
    for _ in range(n):
        atoms = bulk(symbol, cubic=True).repeat((2, 1, 1))
        atoms.positions += rng.normal(0, 0.08, atoms.positions.shape)
        atoms.calc = EMT()
        frames.append(atoms)
    return frames


def _points(frames, scale: float = STIFFER, forces: bool = True, shift: float = 0.0) -> list[ReferencePoint]:
    return [
        ReferencePoint(
            structure=AseAtomsAdaptor.get_structure(a),
            energy_ev=scale * a.get_potential_energy() + shift,
            forces_ev_a=(scale * a.get_forces()).tolist() if forces else None,
            label=f"p{i}",
        )
        for i, a in enumerate(frames)
    ]


def _model(frames):
    return [a.get_potential_energy() for a in frames], [a.get_forces() for a in frames]


@pytest.mark.parametrize("method", ["forces", "energies"])
def test_a_uniformly_stiffer_reference_gives_its_factor_and_corrects_another_systems_barrier(method):
    frames = _rattled(0)
    points = _points(frames, shift=-3.0)  # a constant offset (another energy zero) changes nothing
    energies, forces = _model(frames)
    cal = fit_softening(points, energies, forces if method == "forces" else None, method, "emt", "stiff")
    assert cal.failure_reason is None and cal.factor == pytest.approx(0.7, rel=1e-6)
    assert cal.r2 == pytest.approx(1.0, abs=1e-9)
    assert cal.n_points == 4 and cal.n_values == (4 * 8 * 3 if method == "forces" else 4)
    # another system (Ni, not Cu): its "barrier" on the model and on the stiffer reference
    a, b = _rattled(1, "Ni", 2)
    raw = b.get_potential_energy() - a.get_potential_energy()
    reference = STIFFER * raw
    assert calibrated_barrier(raw, cal) == pytest.approx(reference, rel=1e-6)
    assert abs(calibrated_barrier(raw, cal) - reference) < abs(raw - reference) / 100


def test_a_noisy_reference_gives_a_factor_with_its_r2_and_a_flat_one_gives_none():
    frames = _rattled(2)
    energies, forces = _model(frames)
    rng = np.random.default_rng(3)
    points = _points(frames)
    for p in points:
        p.forces_ev_a = (np.asarray(p.forces_ev_a) + rng.normal(0, 0.2, (8, 3))).tolist()
    cal = fit_softening(points, energies, forces, "forces", "emt", "noisy")
    assert 0.5 < cal.factor < 0.9 and 0.3 < cal.r2 < 0.99
    flat = _points(frames, scale=0.0)
    cal = fit_softening(flat, energies, forces, "forces", "emt", "flat")
    assert cal.factor is None and "all zero" in cal.failure_reason
    assert calibrated_barrier(0.5, cal) is None
    opposite = _points(frames, scale=-1.0)
    cal = fit_softening(opposite, energies, forces, "forces", "emt", "opposite")
    assert cal.factor is None and "does not follow the reference" in cal.failure_reason


def test_energies_need_two_points_of_one_composition():
    cu, ni = _rattled(4, "Cu", 1) + _rattled(5, "Ni", 1)
    points = _points([cu, ni], forces=False)
    cal = fit_softening(
        points, [cu.get_potential_energy(), ni.get_potential_energy()], None, "energies", "m", "r"
    )
    assert cal.factor is None and "share a composition" in cal.failure_reason


def test_points_file_round_trip_and_its_errors(tmp_path):
    frames = _rattled(6)
    path = tmp_path / "refs.extxyz"
    write_points(path, _points(frames))
    back = read_points(path)
    assert len(back) == 4 and back[0].label == "refs.extxyz:0 Cu8"
    assert np.allclose(back[1].forces_ev_a, STIFFER * frames[1].get_forces(), atol=1e-5)
    assert choose_method(back, "auto") == "forces"
    write_points(tmp_path / "e.extxyz", _points(frames, forces=False))
    energy_only = read_points(tmp_path / "e.extxyz")
    assert energy_only[0].forces_ev_a is None and choose_method(energy_only, "auto") == "energies"
    with pytest.raises(CalibrationError, match="has no forces"):
        choose_method(energy_only, "forces")
    with pytest.raises(CalibrationError, match="no such file"):
        read_points(tmp_path / "missing.extxyz")
    (tmp_path / "bad.extxyz").write_text("not\nan xyz file\n")
    with pytest.raises(CalibrationError, match="not an extended-XYZ file"):
        read_points(tmp_path / "bad.extxyz")
    write_points(tmp_path / "one.extxyz", _points(frames[:1]))
    with pytest.raises(CalibrationError, match="at least 2"):
        read_points(tmp_path / "one.extxyz")
    bare = frames[0].copy()  # no calculator: no energy
    from ase.io import write

    write(tmp_path / "bare.extxyz", [bare, bare], format="extxyz")
    with pytest.raises(CalibrationError, match=r"structure 0 .* has no energy"):
        read_points(tmp_path / "bare.extxyz")


def test_band_points_read_a_stored_neb_output():
    frames = _rattled(7, n=3)
    images = [AseAtomsAdaptor.get_structure(a).as_dict() for a in frames]
    points = band_points({"images": images, "energies": [-1.0, -0.5, -1.0]}, "MgCr2S4 vasp:PBE")
    assert [p.energy_ev for p in points] == [-1.0, -0.5, -1.0] and points[2].label == "MgCr2S4 vasp:PBE:2"
    with pytest.raises(CalibrationError, match="no images with energies"):
        band_points({"images": images, "energies": None}, "x")


CAMPAIGN = """name: cal
pairs: [{{host: Cr2S4, intercalant: Mg}}]
calculator:
  model: SevenNet
{extra_calc}calibration:
  points: {points}
{extra}"""


def _write_refs(tmp_path, forces: bool = True):
    write_points(tmp_path / "refs.extxyz", _points(_rattled(8), forces=forces))
    return "refs.extxyz"


def test_a_campaign_reads_its_points_relative_to_itself(tmp_path):
    points = _write_refs(tmp_path)
    (tmp_path / "c.yaml").write_text(
        CAMPAIGN.format(extra_calc="", points=points, extra="  reference: PBE\n")
    )
    camp = load_campaign(tmp_path / "c.yaml")
    assert camp.calibration.points == str(tmp_path / "refs.extxyz") and camp.calibration.reference == "PBE"
    from mvflows.flows import CampaignMaker

    flow = CampaignMaker().make(camp)
    (cal,) = [j for j in flow.jobs if j.name.startswith("calibrate")]
    assert cal.name == "calibrate forcefield:SevenNet on 4 points"
    result = next(j for f in flow.jobs if hasattr(f, "jobs") for j in f.jobs if j.name.startswith("result"))
    assert result.function_kwargs["calibration"].uuid == cal.uuid
    # without a calibration the result job takes no such input, so its content key is unchanged
    plain = load_campaign(tmp_path / "c.yaml")
    plain.calibration = None
    flow = CampaignMaker().make(plain)
    result = next(j for f in flow.jobs if hasattr(f, "jobs") for j in f.jobs if j.name.startswith("result"))
    assert "calibration" not in result.function_kwargs


@pytest.mark.parametrize(
    ("extra_calc", "points", "extra", "message"),
    [
        ("", "nothere.extxyz", "", "calibration.points: .*nothere.extxyz: no such file"),
        (
            "",
            "refs.extxyz",
            "  method: forces\n",
            "calibration.points: calibration.method is forces, but point",
        ),
        ("", "refs.extxyz", "  factor: 2\n", "calibration.factor: unknown key"),
        (
            "  committee: [chgnet-0.3.0, chgnet-0.2.0]\n",
            "refs.extxyz",
            "",
            "calibration: calibrates one screening model, and this campaign has a committee",
        ),
    ],
)
def test_bad_calibration_blocks_are_one_line_at_their_place(tmp_path, extra_calc, points, extra, message):
    _write_refs(tmp_path, forces=False)
    (tmp_path / "c.yaml").write_text(CAMPAIGN.format(extra_calc=extra_calc, points=points, extra=extra))
    with pytest.raises(CampaignError, match=message) as info:
        load_campaign(tmp_path / "c.yaml")
    assert str(info.value).startswith(f"{tmp_path / 'c.yaml'}:") and "\n" not in str(info.value)


def test_run_refuses_a_bad_points_file_before_computing(tmp_path):
    (tmp_path / "refs.extxyz").write_text("garbage\n")
    (tmp_path / "c.yaml").write_text(CAMPAIGN.format(extra_calc="", points="refs.extxyz", extra=""))
    res = mvflows_cli("run", str(tmp_path / "c.yaml"), "--store", str(tmp_path / "s"), timeout=120)
    assert res.returncode == 2 and res.stderr.startswith("error:") and len(res.stderr.splitlines()) == 1
    assert "not an extended-XYZ file" in res.stderr and not (tmp_path / "s").exists()


def test_results_show_the_calibrated_barrier_beside_the_raw_one():
    cal = {"model": "forcefield:CHGNet", "reference": "PBE", "method": "forces", "factor": 0.8, "r2": 0.9}
    cal |= {"n_points": 5, "n_values": 600, "points_digest": "abc"}
    doc = {"campaign": "c", "host": "Cr2S4", "intercalant": "Mg", "barrier_ev": 0.4}
    doc |= {"calibrated_barrier_ev": 0.5, "calibration": cal, "state": "successful"}
    keys = [k for k, _h, _f in columns_for([doc])]
    assert keys[keys.index("barrier_ev") + 1] == "calibrated_barrier_ev"
    assert "calibrated_barrier_ev" not in [k for k, _h, _f in columns_for([{"barrier_ev": 0.4}])]
    (line,) = notes([doc, {**doc, "host": "Ti2S4"}])  # one line per calibration, not per pair
    assert "barrier / 0.800" in line and "600 forces values of 5 points of PBE" in line
    header, row = to_csv([doc]).splitlines()
    assert "calibrated_barrier_ev" in header.split(",") and row.endswith(",0.5,0.8")


def test_smoke_workflow_has_no_calibration():
    assert load_campaign(f"{WORKFLOWS}/smoke.yaml").calibration is None
