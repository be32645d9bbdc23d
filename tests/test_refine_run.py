"""workflows/smoke_refine.yaml through `mvflows run`: both smoke pairs on the force field, the one
with the lower barrier refined on fake VASP in the same Flow, warm-started; then a re-run.
"""

import json
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import yaml
from conftest import WORKFLOWS, fake_vasp_cmd, jobs_line
from conftest import mvflows_cli as _mvflows

pytestmark = pytest.mark.slow

FF, DFT = "forcefield:SevenNet", "fake-vasp:PBE"


@pytest.fixture(scope="module")
def refined(tmp_path_factory):
    """The campaign with a VASP settings file of few surrogate steps, run twice into one store."""
    d = tmp_path_factory.mktemp("refine")
    fake = {"max_ionic_steps": 15, "vasp_cmd": fake_vasp_cmd()}
    (d / "vasp.yaml").write_text(yaml.safe_dump({"fake": fake}))
    data = yaml.safe_load(Path(WORKFLOWS, "smoke_refine.yaml").read_text())
    data["refine"]["vasp_config"] = str(d / "vasp.yaml")
    (d / "campaign.yaml").write_text(yaml.safe_dump(data))
    store = d / "store"
    args = ("run", str(d / "campaign.yaml"), "--store", str(store), "--jobs", "2")
    t0 = time.perf_counter()
    first = _mvflows(*args, timeout=1800)
    t1 = time.perf_counter()
    second = _mvflows(*args, timeout=600)
    print(f"refine run {t1 - t0:.0f} s, re-run {time.perf_counter() - t1:.0f} s")
    out = _mvflows("results", "--store", str(store), "--format", "json")
    assert out.returncode == 0, out.stderr
    return SimpleNamespace(store=store, first=first, second=second, docs=json.loads(out.stdout))


def _output(store, uuid):
    """A job's latest output, as a dict (a NebResult comes back as itself)."""
    from mvflows.store import job_store

    js = job_store(str(store))
    out = js.get_output(uuid, which="last", load=True)
    return out.model_dump() if hasattr(out, "model_dump") else out


def _structures(items):
    from pymatgen.core import Structure

    return [s if isinstance(s, Structure) else Structure.from_dict(s) for s in items]


def test_the_better_pair_has_both_levels_the_other_one(refined):
    assert refined.first.returncode == 0, refined.first.stderr[-3000:]
    docs = {d["host"]: d for d in refined.docs}
    assert set(docs) == {"Cr2S4", "Ti2S4"}
    ff_barriers = {h: d["levels"][FF]["barrier_ev"] for h, d in docs.items()}
    best = min(ff_barriers, key=ff_barriers.get)
    other = next(h for h in docs if h != best)
    picked = docs[best]
    assert set(picked["levels"]) == {FF, DFT} and picked["headline_level"] == DFT
    assert picked["calculator"] == DFT and picked["fake_vasp"] is True and picked["state"] == "successful"
    for level in (FF, DFT):
        numbers = picked["levels"][level]
        assert numbers["state"] == "successful", numbers["failure_reasons"]
        assert all(isinstance(numbers[k], float) for k in ("barrier_ev", "voltage_v", "delta_e_site_ev"))
    assert picked["barrier_ev"] == picked["levels"][DFT]["barrier_ev"]  # the headline on top
    assert set(docs[other]["levels"]) == {FF} and docs[other]["headline_level"] == FF
    assert docs[other]["calculator"] == FF


def test_the_vasp_neb_starts_from_the_force_field_band(refined):
    picked = next(d for d in refined.docs if d["headline_level"] == DFT)
    ff_band = _structures(_output(refined.store, picked["levels"][FF]["job_uuids"]["neb"])["images"])
    vasp = _output(refined.store, picked["levels"][DFT]["job_uuids"]["neb"])
    start = _structures(vasp["initial_images"])
    assert len(start) == len(ff_band) == 5
    for warm, ff in zip(start[1:-1], ff_band[1:-1], strict=True):  # moving images: the FF's, as they ended
        assert warm.species == ff.species
        assert np.allclose(warm.frac_coords, ff.frac_coords, atol=1e-8)
    # ... in the VASP-relaxed supercell, between the VASP-relaxed endpoints
    assert np.allclose(start[1].lattice.matrix, start[0].lattice.matrix)
    # the cold path would be IDPP's between the same endpoints: not what the NEB was given
    from mvflows.neb_path import hop_images

    via = list(ff_band[2].cart_coords[-1])
    cold = hop_images(start[0], start[-1], via, 3, idpp=True)
    assert not np.allclose(cold[2].frac_coords, start[2].frac_coords, atol=1e-4)


def test_a_rerun_reuses_everything(refined):
    second = refined.second
    assert second.returncode == 0, second.stderr[-3000:]
    counts = jobs_line(second.stderr)
    assert counts["run"] == 0 and counts["failed"] == 0 and counts["reused"] > 0, counts


def test_results_at_a_level(refined):
    out = _mvflows("results", "--store", str(refined.store), "--level", FF, "--format", "json")
    assert out.returncode == 0, out.stderr
    docs = json.loads(out.stdout)
    assert len(docs) == 2 and {d["calculator"] for d in docs} == {FF}
    out = _mvflows("results", "--store", str(refined.store), "--level", DFT, "--format", "json")
    (doc,) = json.loads(out.stdout)
    assert doc["calculator"] == DFT and doc["barrier_ev"] is not None
