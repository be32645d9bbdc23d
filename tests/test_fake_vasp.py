"""A whole spinel pair on the VASP backend under fake VASP (SevenNet-0 surrogate), read back."""

import json

import pytest
import yaml
from conftest import mvflows_cli as _mvflows

# fake_vasp_campaign is the fixture users get: mvflows' pytest plugin (entry point pytest11) provides it

pytestmark = pytest.mark.slow

LIGHT = """
name: fake-vasp-ci
pairs: [{{host: Cr2S4, intercalant: Mg}}]
calculator:
  kind: fake-vasp
  model: SevenNet
  vasp_config: {config}
  relax: {{fmax: 0.1, steps: 30}}
screen: {{max_abs_delta_e_site_ev: 5.0}}   # always run the NEB here
neb: {{images: 3, fmax: 0.3, steps: 20, endpoint_fmax: 0.1, endpoint_steps: 20, climb: true, idpp: true}}
"""


@pytest.fixture(scope="module")
def light_campaign(tmp_path_factory):
    d = tmp_path_factory.mktemp("fakevasp")
    config = {"fake": {"max_ionic_steps": 4}}  # study defaults; a few surrogate steps per job
    (d / "vasp.yaml").write_text(yaml.safe_dump(config))
    path = d / "campaign.yaml"
    path.write_text(LIGHT.format(config=d / "vasp.yaml"))
    return path


def test_spinel_pair_on_fake_vasp(light_campaign, fake_vasp_campaign, tmp_path):
    store = str(tmp_path / "store")
    docs = fake_vasp_campaign(light_campaign, store=store)
    assert not fake_vasp_campaign.report.failed, fake_vasp_campaign.report.failed
    assert len(docs) == 1
    # read back through the CLI, as a user would
    out = _mvflows("results", "--store", store, "--format", "json")
    assert out.returncode == 0, out.stderr
    (d,) = json.loads(out.stdout)
    assert d["calculator"] == "fake-vasp:PBE" and d["fake_vasp"] is True
    assert d["stable_site"] in ("tet", "oct") and isinstance(d["delta_e_site_ev"], float)
    assert 0.0 < d["voltage_v"] < 4.0  # MgCr2S4: surrogate PBE-like energies, DFT says 1.65 V
    assert d["capacity_mah_g"] == pytest.approx(209, abs=1)
    assert isinstance(d["barrier_ev"], float) and 0.0 < d["barrier_ev"] < 5.0
    assert len(d["neb_energies_ev"]) == 5  # endpoints from the fixed-cell relaxes + 3 VASP images
    table = _mvflows("results", "--store", store)
    assert "FAKE" in table.stdout
    # the VASP task documents are atomate2's, parsed from fake VASP's files
    from mvflows.store import job_store

    js = job_store(store)
    js.connect()
    tasks = [t for t in js.query({"output.calc_type": {"$exists": True}}) if "output" in t]
    assert tasks
    # emmet names a fixed-cell relax (ISIF=2, the NEB endpoints) "Deformation"
    assert {t["output"]["calc_type"] for t in tasks} <= {
        "PBE Structure Optimization",
        "PBE Static",
        "PBE Deformation",
    }
