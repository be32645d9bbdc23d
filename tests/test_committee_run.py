"""A committee of two CHGNet checkpoints through `mvflows run` (one pair, tiny settings), then the
single-model campaign of one member on the same store: every job of it is the member's, reused.
"""

import json

import pytest
import yaml
from conftest import invoke, jobs_line
from conftest import mvflows_cli as _mvflows

pytestmark = pytest.mark.slow

# one spinel pair; a 14-atom NEB cell and loose forces: real numbers of both models, quickly
SETTINGS = {
    "name": "committee-run",
    "family": "spinel",
    "pairs": [{"host": "Cr2S4", "intercalant": "Mg"}],
    "calculator": {"model": "chgnet-0.3.0", "relax": {"fmax": 0.2, "steps": 40}},
    "neb": {
        "supercell": [1, 1, 1],
        "images": 1,
        "fmax": 0.2,
        "steps": 40,
        "endpoint_fmax": 0.1,
        "endpoint_steps": 20,
    },
}
HEAD, OTHER = "forcefield:CHGNet", "forcefield:chgnet-0.2.0"
QUANTITIES = ("stable_site", "delta_e_site_ev", "voltage_v", "barrier_ev", "state")


def _write(path, **calculator):
    data = json.loads(json.dumps(SETTINGS))
    data["calculator"].update(calculator)
    path.write_text(yaml.safe_dump(data))
    return path


def test_a_committee_run_keeps_each_members_values_and_shares_their_jobs(tmp_path):
    store = tmp_path / "store"
    committee = _write(tmp_path / "committee.yaml", committee=["chgnet-0.2.0"])
    # one process, one torch thread: tiny cells gain nothing from more, and lose 10x on a busy machine
    run = _mvflows(
        "run", str(committee), "--store", str(store), "--jobs", "1", timeout=900, env={"OMP_NUM_THREADS": "1"}
    )
    assert run.returncode == 0, run.stderr[-3000:]
    assert "committee CHGNet, chgnet-0.2.0" in run.stderr
    assert "barrier spread" in run.stdout  # the run's table: the committee row

    (doc,) = json.loads(invoke("results", "--store", store, "--format", "json").stdout)
    every = json.loads(invoke("results", "--store", store, "--format", "json", "--members").stdout)
    own = {d["calculator"]: d for d in every if not d.get("committee")}
    assert set(own) == {HEAD, OTHER}
    block = doc["committee"]
    assert [m["label"] for m in block["members"]] == [HEAD, OTHER]
    for member in block["members"]:  # each member's values are its own result's
        mine = own[member["label"]]
        assert member["result_id"] == mine["result_id"]
        assert {q: member[q] for q in QUANTITIES} == {q: mine[q] for q in QUANTITIES}
        assert mine["barrier_ev"] is not None and mine["voltage_v"] is not None
    assert {q: doc[q] for q in QUANTITIES} == {q: own[HEAD][q] for q in QUANTITIES}  # the headline on top
    assert (
        doc["calculator"] == HEAD
        and doc["job_uuids"]["relax_charged"] == own[HEAD]["job_uuids"]["relax_charged"]
    )
    barriers = [own[HEAD]["barrier_ev"], own[OTHER]["barrier_ev"]]
    assert doc["barrier_spread_ev"] == pytest.approx(abs(barriers[0] - barriers[1]))
    assert block["barrier_ev"]["mean"] == pytest.approx(sum(barriers) / 2)
    voltages = [own[HEAD]["voltage_v"], own[OTHER]["voltage_v"]]
    expect_flag = (
        abs(barriers[0] - barriers[1]) > 0.15
        or abs(voltages[0] - voltages[1]) > 0.15
        or own[HEAD]["stable_site"] != own[OTHER]["stable_site"]
    )
    assert doc["flagged"] is expect_flag and bool(doc["flag_reasons"]) is expect_flag

    # the single-model campaign of the second member, same name and settings: nothing to compute
    single = _write(tmp_path / "single.yaml", model="chgnet-0.2.0")
    again = invoke("run", single, "--store", store, "--jobs", "1")
    assert again.exit_code == 0, again.stderr[-3000:]
    assert jobs_line(again.stderr)["run"] == 0
    mine = json.loads(invoke("results", "--store", store, "--format", "json", "--members").stdout)
    assert sorted(d["result_id"] for d in mine) == sorted(d["result_id"] for d in every)  # no new result
