"""workflows/smoke.yaml end to end with the real default model (SevenNet-0, light settings).

The run itself is the session fixture ``smoke_store`` of conftest.py (shared with the browser test).
"""

import json

import pytest
from conftest import mvflows_cli as _mvflows

from mvflows.electrochemistry import gravimetric_capacity

pytestmark = pytest.mark.slow


def test_run_prints_table(smoke_store):
    _store, result = smoke_store
    assert "Cr2S4" in result.stdout and "Ti2S4" in result.stdout
    assert "pairs successful" in result.stderr


def test_stored_documents(smoke_store):
    store, _ = smoke_store
    out = _mvflows("results", "--store", str(store), "--format", "json")
    assert out.returncode == 0, out.stderr
    docs = {(d["intercalant"], d["host"]): d for d in json.loads(out.stdout)}
    assert set(docs) == {("Mg", "Cr2S4"), ("Zn", "Ti2S4")}
    for (ion, host), d in docs.items():
        assert d["state"] == "successful", d["failure_reasons"]
        assert d["calculator"] == "forcefield:SevenNet"
        assert d["formula_discharged"] == f"{ion}{host}"
        assert d["stable_site"] in ("tet", "oct")
        assert isinstance(d["delta_e_site_ev"], float)
        assert d["stable_site"] == ("tet" if d["delta_e_site_ev"] > 0 else "oct")
        assert 0.0 < d["voltage_v"] < 4.0
        assert d["capacity_mah_g"] == pytest.approx(gravimetric_capacity(f"{ion}{host}", ion), rel=1e-9)
        assert d["specific_energy_wh_kg"] == pytest.approx(d["voltage_v"] * d["capacity_mah_g"])
        assert (d["barrier_ev"] is None) == (d["neb_skipped_reason"] is not None)
        if d["barrier_ev"] is not None:
            profile = d["neb_energies_ev"]
            assert len(profile) == 5  # 3 moving images + 2 endpoints in smoke.yaml
            assert d["barrier_ev"] == pytest.approx(max(profile) - min(profile))
            assert d["barrier_ev"] > 0.05  # relaxed endpoints: a real barrier, not ~0
            assert abs(profile[-1] - profile[0]) < 0.02  # symmetric hop
            # the ion relaxed on the intermediate void (its own job) is in the result, both checks made
            checks = {c["check"]: c for c in d["plausibility"]}
            assert {c["status"] for c in checks.values()} <= {"passed", "flagged"}, checks
            site = checks["intermediate_site"]["values"]
            assert isinstance(site["relaxed_site_ev"], float) and site["site_shift_a"] < 1e-6  # held there
            assert site["middle_image_ev"] == pytest.approx(profile[2])  # 3 images: the middle one
            assert d["flagged"] == bool(d["flag_reasons"])
        steps = ("relax_charged", "relax_tet", "relax_oct", "relax_metal", "voltage")
        assert all(d["job_uuids"][k] for k in steps)
        assert len(json.dumps(d)) < 20_000  # no trajectories in the result document
    # MgCr2S4, the study's flagship: voltage in the range of DFT (1.65 V) and experiment
    assert 1.0 < docs[("Mg", "Cr2S4")]["voltage_v"] < 2.5


def test_results_filters_and_csv(smoke_store):
    store, _ = smoke_store
    out = _mvflows("results", "--store", str(store), "--format", "csv", "--host", "Cr2S4")
    lines = out.stdout.strip().splitlines()
    assert lines[0].startswith("campaign,host,intercalant") and len(lines) == 2
    assert lines[1].startswith("smoke,Cr2S4,Mg")
    out = _mvflows("results", "--store", str(store), "--intercalant", "Zn")
    assert "Ti2S4" in out.stdout and "Cr2S4" not in out.stdout


@pytest.mark.parametrize(
    "kind, label",
    [
        ("voltage-capacity", "gravimetric capacity"),
        ("neb", "distance along the path (Å)"),
        ("site-barrier", "migration barrier"),
    ],
)
def test_figures_from_the_smoke_run(smoke_store, tmp_path, kind, label):
    store, _ = smoke_store
    path = tmp_path / f"{kind}.svg"
    out = _mvflows("plot", kind, "--store", str(store), "-o", str(path))
    assert out.returncode == 0, out.stderr
    assert path.stat().st_size > 5_000 and label in path.read_text()
    png = tmp_path / f"{kind}.png"
    assert _mvflows("plot", kind, "--store", str(store), "-o", str(png)).returncode == 0
    assert png.stat().st_size > 10_000


def test_the_intermediate_site_relax_is_a_job_of_its_own(smoke_store):
    """One fixed-cell relax of the ion on the oct void per band, its energy the check's relaxed site."""
    from mvflows.store import job_store

    store, _ = smoke_store
    js = job_store(str(store))
    js.connect()
    relaxes = list(js.query({"name": "relax (fixed cell) NEB intermediate oct"}, properties=["output"]))
    assert len(relaxes) == 2  # both smoke pairs are tet-stable: tet -> oct -> tet
    out = _mvflows("results", "--store", str(store), "--format", "json")
    docs = json.loads(out.stdout)
    energies = sorted(r["output"]["output"]["energy"] for r in relaxes)
    # the relaxed site's energy relative to the band's first image, which is the relaxed start
    starts = {
        d["host"]: js.query_one({"uuid": d["job_uuids"]["neb"]}, properties=["output.energies"])["output"][
            "energies"
        ][0]
        for d in docs
    }
    relaxed = sorted(starts[d["host"]] + d["plausibility"][0]["values"]["relaxed_site_ev"] for d in docs)
    assert relaxed == pytest.approx(energies, abs=1e-6)
