"""Calibration with real models: CHGNet screened, SevenNet-0 as the reference, through mvflows run.

The reference is SevenNet-0, the surrogate fake VASP runs, on the structures of one pair's
band: ``mvflows calibration-points`` writes Mg in Cr2S4's stored SevenNet-0 band (the
session's smoke run) as points, and the smoke campaign on CHGNet 0.3.0 calibrates on them.
Whether the factor fitted on Mg in Cr2S4 moves Zn in Ti2S4's barrier toward SevenNet-0's is
measured and printed, not assumed (docs/calibration.md has the numbers).
"""

from __future__ import annotations

import json
import os

import pytest
import yaml
from conftest import WORKFLOWS, mvflows_cli

SCREEN_MODEL = "chgnet-0.3.0"


def _results(store) -> dict[str, dict]:
    res = mvflows_cli("results", "--store", str(store), "--format", "json")
    assert res.returncode == 0, res.stderr
    return {d["formula_discharged"]: d for d in json.loads(res.stdout)}


@pytest.mark.slow
def test_chgnet_calibrated_on_sevennet_points_of_one_pair(smoke_store, tmp_path):
    store, _ = smoke_store
    reference = _results(store)
    points = tmp_path / "sevennet_mgcr2s4.extxyz"
    exp = mvflows_cli("calibration-points", "MgCr2S4", "--store", str(store), "-o", str(points))
    assert exp.returncode == 0, exp.stderr
    n_points = int(exp.stdout.split()[1])
    assert n_points >= 3 and "energies only" in exp.stdout

    with open(os.path.join(WORKFLOWS, "smoke.yaml")) as fh:
        campaign = yaml.safe_load(fh)
    campaign["name"] = "smoke-calibrated"
    campaign["calculator"]["model"] = SCREEN_MODEL
    campaign["calibration"] = {"points": points.name, "reference": "SevenNet-0 (fake VASP's surrogate)"}
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(campaign))
    run = mvflows_cli("run", str(tmp_path / "c.yaml"), "--store", str(tmp_path / "s"), "--no-progress")
    assert run.returncode in (0, 1), run.stderr[-2000:]  # 1: a partial pair, which the table explains
    docs = _results(tmp_path / "s")
    assert set(docs) == {"MgCr2S4", "ZnTi2S4"}

    cals = [d["calibration"] for d in docs.values()]
    assert cals[0] == cals[1], "one factor per model and points, for every pair"
    cal = cals[0]
    assert cal["method"] == "energies" and cal["n_points"] == n_points
    assert all(cal["model"] == d["calculator"] for d in docs.values())  # the screening model's label
    table = mvflows_cli("results", "--store", str(tmp_path / "s"))
    assert docs["MgCr2S4"]["calibration"]["points"][0].startswith(points.name)
    if cal["failure_reason"] is not None:
        # a fit the model does not follow (factor below MIN_FACTOR) is reported, never applied
        assert cal["factor"] is None and "below" in cal["failure_reason"]
        assert all(d["calibrated_barrier_ev"] is None for d in docs.values())
        assert "not calibrated:" in table.stdout
        print("calibration:", json.dumps({"factor": None, "r2": cal["r2"], "reason": cal["failure_reason"]}))
        return
    factor = cal["factor"]
    for doc in docs.values():
        assert doc["barrier_ev"] is not None
        assert doc["calibrated_barrier_ev"] == pytest.approx(doc["barrier_ev"] / factor)
    assert "calibrated (eV)" in table.stdout and f"barrier / {factor:.3f}" in table.stdout
    # the factor is the slope of CHGNet's energies against SevenNet-0's on SevenNet-0's band,
    # while CHGNet's barriers come from its own bands: whether dividing by it moves them toward
    # SevenNet-0's is measured and printed (docs/calibration.md), not asserted
    moved = {
        pair: {
            "sevennet_0": reference[pair]["barrier_ev"],
            SCREEN_MODEL: docs[pair]["barrier_ev"],
            "calibrated": docs[pair]["calibrated_barrier_ev"],
            "toward_reference": abs(docs[pair]["calibrated_barrier_ev"] - reference[pair]["barrier_ev"])
            < abs(docs[pair]["barrier_ev"] - reference[pair]["barrier_ev"]),
        }
        for pair in docs
    }
    print("calibration:", json.dumps({"factor": factor, "r2": cal["r2"], "pairs": moved}))
