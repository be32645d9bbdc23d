"""A spinel pair on the VASP backend under fake VASP, as VASP runs: `mvflows run --jobs 2`, worker
processes, atomate2's ``run_vasp`` and custodian launching the ``mvflows-fake-vasp`` executable.

The first run has ``fake.fail: [neb]`` in the VASP settings: the NEB crashes as VASP can,
custodian fails the job, and the pair is partial and names the job. The second run, the
setting removed, reruns what the crash left undone and the pair is successful. The users'
fixture (``fake_vasp_campaign``) then reads the same campaign back, reusing every job.
"""

import gzip
import json
import re
import shlex
import time
from types import SimpleNamespace

import pytest
import yaml
from conftest import fake_vasp_cmd, jobs_line
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
neb: {{images: 3, fmax: 0.5, steps: 20, endpoint_fmax: 0.1, endpoint_steps: 20, climb: true, idpp: true}}
"""


def _vasp_settings(directory, fail=None):
    """Study defaults, a few surrogate steps per job, the fake VASP command; ``fail``: kinds that crash."""
    fake = {"max_ionic_steps": 15, "vasp_cmd": fake_vasp_cmd(), **({"fail": fail} if fail else {})}
    (directory / "vasp.yaml").write_text(yaml.safe_dump({"fake": fake}))


def _results(store):
    out = _mvflows("results", "--store", str(store), "--format", "json")
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """The light campaign run twice into one store: with ``fake.fail: [neb]``, then without."""
    d = tmp_path_factory.mktemp("fakevasp")
    campaign = d / "campaign.yaml"
    campaign.write_text(LIGHT.format(config=d / "vasp.yaml"))
    store = d / "store"
    args = ("run", str(campaign), "--store", str(store), "--jobs", "2")
    _vasp_settings(d, fail=["neb"])
    t0 = time.perf_counter()
    first = _mvflows(*args, timeout=1800)
    first_docs = _results(store)
    t1 = time.perf_counter()
    _vasp_settings(d)
    second = _mvflows(*args, timeout=1800)
    t2 = time.perf_counter()
    print(f"fake VASP runs: with fail {t1 - t0:.0f} s, repaired {t2 - t1:.0f} s")
    return SimpleNamespace(campaign=campaign, store=store, first=first, first_docs=first_docs, second=second)


def test_a_job_told_to_fail_fails_as_vasp_would(runs):
    first = runs.first
    assert first.returncode == 1, first.stderr[-3000:]  # a partial pair, not bad input
    assert "2 jobs at once" in first.stderr
    assert jobs_line(first.stderr)["failed"] == 1
    # custodian's own verdict on a VASP run that left no outputs in the image folders
    (line,) = [x for x in first.stderr.splitlines() if x.startswith("failed job ")]
    assert line.startswith("failed job NEB (")
    assert "ValidationError: Validation failed: VaspNebFilesValidator" in line
    (doc,) = runs.first_docs
    assert doc["state"] == "partial" and doc["fake_vasp"] is True
    assert doc["voltage_v"] is not None and doc["barrier_ev"] is None
    assert any(re.match(r"NEB job \S+ failed or produced no energies", r) for r in doc["failure_reasons"])
    # the crashed attempt's folder is kept beside the rerun's, with fake VASP's word on it
    crashed = list(runs.store.glob("work/job_*.previous-1/vasp.out"))
    assert len(crashed) == 1 and "crashes on purpose" in crashed[0].read_text()


def test_rerun_without_fail_completes_the_pair(runs):
    second = runs.second
    assert second.returncode == 0, second.stderr[-3000:]
    counts = jobs_line(second.stderr)
    assert counts["failed"] == 0 and counts["reused"] >= 8  # relaxes, sites, voltage: not run again
    (d,) = _results(runs.store)  # the pair's result replaced, not a second one
    assert d["state"] == "successful" and not d["failure_reasons"], d["failure_reasons"]
    assert d["calculator"] == "fake-vasp:PBE" and d["fake_vasp"] is True
    assert d["stable_site"] in ("tet", "oct") and isinstance(d["delta_e_site_ev"], float)
    assert 0.0 < d["voltage_v"] < 4.0  # MgCr2S4: surrogate PBE-like energies, DFT says 1.65 V
    assert d["capacity_mah_g"] == pytest.approx(209, abs=1)
    assert isinstance(d["barrier_ev"], float) and 0.0 < d["barrier_ev"] < 5.0
    assert len(d["neb_energies_ev"]) == 5  # endpoints from the fixed-cell relaxes + 3 VASP images
    table = _mvflows("results", "--store", str(runs.store))
    assert "FAKE" in table.stdout
    # every VASP job ran through custodian, which launched the fake VASP command
    cmd = shlex.split(fake_vasp_cmd())
    job_dirs = [p.parent for p in runs.store.glob("work/job_*/mvflows_job.json")]
    assert len(job_dirs) >= 10
    for job_dir in job_dirs:
        (log,) = job_dir.glob("custodian.json*")
        opener = gzip.open if log.suffix == ".gz" else open
        with opener(log, "rt") as fh:
            assert json.load(fh)[0]["job"]["vasp_cmd"][: len(cmd)] == cmd, job_dir
    # the VASP task documents are atomate2's, parsed from fake VASP's files
    from mvflows.store import job_store

    js = job_store(str(runs.store))
    js.connect()
    tasks = [t for t in js.query({"output.calc_type": {"$exists": True}}) if "output" in t]
    assert tasks
    # emmet names a fixed-cell relax (ISIF=2, the NEB endpoints) "Deformation"
    assert {t["output"]["calc_type"] for t in tasks} <= {
        "PBE Structure Optimization",
        "PBE Static",
        "PBE Deformation",
    }


def test_users_fixture_reads_the_campaign_back(runs, fake_vasp_campaign):
    """The fixture builds the same fake campaign (same content keys), so every job is reused."""
    docs = fake_vasp_campaign(runs.campaign, store=str(runs.store), jobs=2)
    report = fake_vasp_campaign.report
    assert not report.failed and report.ran == 0 and report.reused > 0
    (d,) = docs
    assert d["state"] == "successful" and d["fake_vasp"] is True
