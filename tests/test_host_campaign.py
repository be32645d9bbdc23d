"""A real small run of a non-spinel host (Chevrel Mo6S8 with Mg) on SevenNet-0, then figures and report."""

import json
import os

import pytest
from conftest import mvflows_cli as _mvflows

from mvflows.electrochemistry import gravimetric_capacity

pytestmark = pytest.mark.slow

TINY = """
name: chevrel-tiny
family: host
pairs: [{host: Mo6S8, intercalant: Mg, x_max: 1.0}]
calculator: {model: SevenNet, relax: {fmax: 0.15, steps: 120}}
insertion: {max_candidates: 2}
hops: {max_hops: 1, max_length_a: 5.6, min_length_a: 2.0, min_supercell_length_a: 6.0,
       min_supercell_atoms: 10, max_supercell_atoms: 40}
stability: {enabled: true}
screen: {max_e_hull_ev_atom: 1.0}
neb: {images: 1, fmax: 0.3, steps: 25, endpoint_fmax: 0.15, endpoint_steps: 40, symmetric_tolerance_ev: 0.2}
"""


@pytest.fixture(scope="module")
def host_store(tmp_path_factory):
    root = tmp_path_factory.mktemp("host")
    campaign = root / "tiny.yaml"
    campaign.write_text(TINY)
    store = root / "store"
    result = _mvflows("run", str(campaign), "--store", str(store), "--no-progress", timeout=1800)
    assert result.returncode in (0, 1), result.stderr[-3000:]
    return store


def test_host_result_document(host_store):
    out = _mvflows("results", "--store", str(host_store), "--format", "json")
    (doc,) = json.loads(out.stdout)
    assert doc["host"] == "Mo6S8" and doc["formula_discharged"] == "MgMo6S8" and doc["redox_metal"] == "Mo"
    assert doc["capacity_mah_g"] == pytest.approx(gravimetric_capacity("MgMo6S8", "Mg"), rel=1e-9)
    assert 0.0 < doc["voltage_v"] < 2.5
    assert len(doc["voltage_profile"]) == 1 and doc["voltage_profile"][0]["voltage_v"] == pytest.approx(
        doc["voltage_v"]
    )
    assert doc["stable_site"].startswith("void") and doc["delta_e_site_ev"] >= 0
    assert doc["e_hull_charged_ev_atom"] >= 0 and doc["e_hull_discharged_ev_atom"] >= 0
    assert doc["hops"] and doc["hops"][0]["length_a"] > 1.5
    # the NEB always leaves a profile (converged or not), so the hop has a barrier
    assert doc["hops"][0]["barrier_ev"] == pytest.approx(
        max(doc["hops"][0]["neb_energies_ev"]) - min(doc["hops"][0]["neb_energies_ev"])
    )
    assert doc["barrier_ev"] is not None


@pytest.mark.parametrize("kind", ["hull", "neb", "site-barrier", "voltage-capacity"])
def test_figures_from_a_real_run(host_store, tmp_path, kind):
    for suffix in (".png", ".svg"):
        path = tmp_path / f"{kind}{suffix}"
        out = _mvflows("plot", kind, "--store", str(host_store), "-o", str(path))
        assert out.returncode == 0, out.stderr
        assert path.stat().st_size > 5_000
        if suffix == ".svg":
            text = path.read_text()
            labels = {
                "hull": "energy above hull",
                "neb": "the path",  # "distance along the path (Å)" or "fraction of the path"
                "site-barrier": "migration barrier",
                "voltage-capacity": "gravimetric capacity",
            }
            assert labels[kind] in text or labels[kind].replace(" ", "") in text.replace(" ", "")


def test_validation_report_from_a_real_run(host_store, tmp_path):
    report = tmp_path / "report.md"
    out = _mvflows("validate", "--store", str(host_store), "-o", str(report))
    assert out.returncode == 0, out.stderr
    text = report.read_text()
    assert "| Mo6S8 | Mg | voltage_v |  | dft | 0.99 V |" in text
    assert os.path.getsize(report) > 2000
