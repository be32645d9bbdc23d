"""Real faults: SIGKILL mid-campaign and resume, a failing NEB, two runs on one store."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import ROOT
from conftest import mvflows_cli as _mvflows

pytestmark = pytest.mark.slow

LIGHT = """calculator: {relax: {fmax: 0.1, steps: 80}}
neb: {enabled: false}
"""
BOTH = "name: both\npairs: [{host: Cr2S4, intercalant: Mg}, {host: Ti2S4, intercalant: Zn}]\n" + LIGHT
ONE = "name: one\npairs: [{host: Cr2S4, intercalant: Mg}]\n" + LIGHT


def _popen(campaign, store, *extra):
    env = {**os.environ, "MVFLOWS_NO_PROGRESS": "1", "PYTHONWARNINGS": "ignore"}
    return subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from mvflows.cli import main; main()",
            "run",
            str(campaign),
            "--store",
            str(store),
            "--no-progress",
            *extra,
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _children(pid):
    """Processes whose parent is ``pid`` (from /proc)."""
    kids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            kids.append(int(stat.parent.name))
    return kids


def _alive(pid):
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _results(store):
    out = _mvflows("results", "--store", str(store), "--format", "json")
    assert out.returncode == 0, out.stderr
    return {(d["campaign"], d["intercalant"], d["host"]): d for d in json.loads(out.stdout)}


def _no_duplicate_jobs(store):
    from mvflows.store import job_store

    js = job_store(str(store))
    keys = [(d["uuid"], d["index"]) for d in js.query({}, properties=["uuid", "index"])]
    assert len(keys) == len(set(keys))
    return len(keys)


@pytest.fixture(scope="module")
def concurrent_store(tmp_path_factory):
    """Two overlapping campaigns started at once on one embedded store."""
    tmp = tmp_path_factory.mktemp("concurrent")
    (tmp / "both.yaml").write_text(BOTH)
    (tmp / "one.yaml").write_text(ONE)
    store = tmp / "store"
    procs = [_popen(tmp / "both.yaml", store), _popen(tmp / "one.yaml", store)]
    outs = [p.communicate(timeout=1200) for p in procs]
    for p, (_o, e) in zip(procs, outs):
        assert p.returncode == 0, e[-2000:]
    return store


def test_concurrent_runs_leave_one_document_per_pair(concurrent_store):
    docs = _results(concurrent_store)
    # each campaign keeps its own result of the pair they share
    assert set(docs) == {("both", "Mg", "Cr2S4"), ("both", "Zn", "Ti2S4"), ("one", "Mg", "Cr2S4")}
    assert all(d["state"] == "successful" for d in docs.values())
    # ... made of the same jobs, computed once: the same numbers (tests/test_store_safety.py
    # compares two runs on one store, NEB included, with a run alone)
    for key in ("voltage_v", "delta_e_site_ev", "capacity_mah_g", "stable_site"):
        assert docs[("one", "Mg", "Cr2S4")][key] == docs[("both", "Mg", "Cr2S4")][key] is not None, key
    from mvflows.store import results_store

    assert results_store(str(concurrent_store)).count() == 3
    # 2 metals + 2 x (3 relaxes, site, voltage, NEB gate, result) shared by content, plus the
    # second campaign's own result job for MgCr2S4 (its campaign name is part of its key)
    assert _no_duplicate_jobs(concurrent_store) == 17


def test_fresh_recomputes_without_duplicates(concurrent_store, tmp_path):
    campaign = tmp_path / "one.yaml"
    campaign.write_text(ONE)
    fresh = _mvflows("run", str(campaign), "--store", str(concurrent_store), "--no-progress", "--fresh")
    assert fresh.returncode == 0 and " 8 run, 0 reused" in fresh.stderr, fresh.stderr[-500:]
    assert _no_duplicate_jobs(concurrent_store) == 17
    assert len(_results(concurrent_store)) == 3


def test_sigkill_mid_campaign_then_resume(tmp_path, concurrent_store):
    from mvflows.store import job_store

    campaign = tmp_path / "both.yaml"
    campaign.write_text(BOTH)
    store = tmp_path / "store"
    proc = _popen(campaign, store, "--jobs", "2")
    deadline = time.time() + 600
    done = 0
    while time.time() < deadline and proc.poll() is None:
        time.sleep(1)
        if (store / "mvflows").exists():
            done = job_store(str(store)).count({"name": {"$regex": "^relax"}})
            if done >= 3:
                break
    assert proc.poll() is None, "the run ended before it could be killed"
    workers = _children(proc.pid)
    assert workers, "with --jobs 2 the run computes in worker processes"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    deadline = time.time() + 30
    while time.time() < deadline and any(_alive(pid) for pid in workers):
        time.sleep(0.5)
    assert not any(_alive(pid) for pid in workers), "workers outlived the killed run"
    # the store is readable after the kill and holds the finished jobs, not all of them
    before = job_store(str(store)).count()
    assert 3 <= before < 16
    again = _mvflows("run", str(campaign), "--store", str(store), "--no-progress")
    assert again.returncode == 0, again.stderr[-2000:]
    reused = int(again.stderr.split(" reused")[0].rsplit(" ", 1)[-1])
    assert reused >= before - 1  # everything finished before the kill is reused (at most one in flight)
    assert _no_duplicate_jobs(store) == 16
    resumed = _results(store)
    reference = {k: v for k, v in _results(concurrent_store).items() if k[0] == "both"}
    assert set(resumed) == set(reference)
    for pair, doc in resumed.items():
        for key in ("voltage_v", "delta_e_site_ev", "capacity_mah_g"):
            assert doc[key] == pytest.approx(reference[pair][key], abs=1e-4), (pair, key)
    # a finished campaign re-run computes nothing and keeps one document per pair
    third = _mvflows("run", str(campaign), "--store", str(store), "--no-progress")
    assert third.returncode == 0 and " 0 run, 16 reused" in third.stderr, third.stderr[-500:]
    assert len(_results(store)) == 2 and all(d["state"] == "successful" for d in _results(store).values())


def test_failing_neb_leaves_other_pairs_complete(tmp_path):
    """An NEB capped at 1 step cannot converge: its pair is partial with a voltage, others finish."""
    campaign = tmp_path / "fail.yaml"
    campaign.write_text(
        "name: fail\npairs: [{host: Cr2S4, intercalant: Mg}, {host: Ti2S4, intercalant: Zn}]\n"
        "calculator: {relax: {fmax: 0.1, steps: 80}}\n"
        "screen: {max_abs_delta_e_site_ev: 0.5}\n"
        "neb: {images: 1, steps: 1, endpoint_steps: 5, endpoint_fmax: 0.1}\n"
    )
    result = _mvflows("run", str(campaign), "--store", str(tmp_path / "s"), "--no-progress")
    assert result.returncode == 1, result.stderr[-2000:]  # not every pair succeeded
    docs = _results(tmp_path / "s")
    assert len(docs) == 2
    with_neb = [d for d in docs.values() if abs(d["delta_e_site_ev"]) <= 0.5]
    without = [d for d in docs.values() if abs(d["delta_e_site_ev"]) > 0.5]
    # SevenNet-0 gives |dE| = 0.36 eV for MgCr2S4 and 0.73 eV for ZnTi2S4: one of each
    assert with_neb and without
    for d in with_neb:
        assert d["state"] == "partial"
        assert any("not converged" in r for r in d["failure_reasons"])
        assert d["voltage_v"] is not None and d["barrier_ev"] is not None
    for d in without:
        assert d["state"] == "successful" and d["neb_skipped_reason"]
    assert "partial" in result.stdout
