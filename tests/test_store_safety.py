"""Nothing lost: two runs on one store, a lost results collection, Ctrl-C and resume (real processes).

Every run here is the same one-pair campaign with an NEB, on settings light enough for a
test (about 15 s of compute), each process on one thread so that every run computes the
same numbers: results are compared with a single run's, state and values.
"""

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import ROOT

TINY = """name: tiny
pairs: [{host: Cr2S4, intercalant: Mg}]
calculator: {relax: {fmax: 0.2, steps: 40}}
screen: {max_abs_delta_e_site_ev: 1.0}
neb: {supercell: [1, 1, 1], images: 1, fmax: 0.5, steps: 30, endpoint_fmax: 0.3, endpoint_steps: 20}
"""
JOBS = 16  # in the graph of TINY: the NEB sub-flow included, with its intermediate-site relax (2 jobs)
VALUES = ("state", "barrier_ev", "voltage_v", "delta_e_site_ev", "neb_energies_ev", "stable_site")


def _start(campaign, store, *extra):
    env = {**os.environ, "MVFLOWS_NO_PROGRESS": "1", "PYTHONWARNINGS": "ignore", "OMP_NUM_THREADS": "1"}
    args = ["run", str(campaign), "--store", str(store), "--no-progress", "--jobs", "1", *extra]
    return subprocess.Popen(
        [sys.executable, "-c", "from mvflows.cli import main; main()", *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group, which a terminal's Ctrl-C would reach
    )


def _finish(proc, timeout=900):
    out, err = proc.communicate(timeout=timeout)
    return proc.returncode, out, err


def _counts(stderr):
    m = re.search(r"jobs: (\d+) run, (\d+) reused", stderr)
    assert m, stderr[-2000:]
    return int(m[1]), int(m[2])


def _results(store):
    from mvflows.store import query_results, results_store

    return {
        (d["campaign"], d["intercalant"], d["host"]): {k: d.get(k) for k in VALUES}
        for d in query_results(results_store(str(store), read_only=True), all_versions=True)
    }


def _job_keys(store):
    from mvflows.store import job_store

    return [
        (d["uuid"], d["index"]) for d in job_store(str(store), read_only=True).query({}, ["uuid", "index"])
    ]


def _descendants(pid):
    from mvflows.execution.executors import _descendants

    return _descendants(pid)


@dataclass
class Runs:
    reference: tuple  # (store, results) of the campaign run alone
    trials: list  # (store, [(rc, out, err) of each of the two runs])
    interrupted: tuple  # (store, (rc, out, err), jobs stored then, processes left after it)
    resumed: tuple  # (rc, out, err)
    lost: tuple  # (store, (rc, out, err), results before the run)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Every run of this module, as many at once as can be (CPU time is the cost, not processes).

    At once: the campaign alone (the reference); three trials of two runs on one new store,
    the second started a second after the first; and a run interrupted by Ctrl-C once it
    has stored a few jobs. Then at once: the interrupted run again, and a run on a copy of
    the reference store whose results collection was deleted.
    """
    tmp = tmp_path_factory.mktemp("safety")
    campaign = tmp / "tiny.yaml"
    campaign.write_text(TINY)
    reference = _start(campaign, tmp / "reference")
    trials = [[_start(campaign, tmp / f"trial{i}")] for i in range(3)]
    store = tmp / "interrupted"
    victim = _start(campaign, store)
    time.sleep(1)
    for i, pair in enumerate(trials):
        pair.append(_start(campaign, tmp / f"trial{i}"))
    deadline = time.time() + 900
    while time.time() < deadline and victim.poll() is None:
        time.sleep(0.5)
        if (store / "mvflows" / "outputs.collection").exists() and len(_job_keys(store)) >= 4:
            break
    assert victim.poll() is None, "the run ended before it could be interrupted"
    started = _descendants(victim.pid)
    os.killpg(victim.pid, signal.SIGINT)  # as Ctrl-C on a terminal: the whole process group
    stopped = _finish(victim, timeout=120)
    stored = len(_job_keys(store))
    time.sleep(1)
    left = [p for p in started if Path(f"/proc/{p}").exists()]
    rc, _out, err = _finish(reference)
    assert rc == 0, err[-3000:]
    assert _counts(err) == (JOBS, 0)
    ref = (tmp / "reference", _results(tmp / "reference"))
    lost = tmp / "lost"
    shutil.copytree(ref[0], lost)
    (lost / "mvflows" / "pair_results.collection").unlink()
    before = _results(lost)
    again, rebuild = _start(campaign, store), _start(campaign, lost)
    return Runs(
        reference=ref,
        trials=[(tmp / f"trial{i}", [_finish(p) for p in pair]) for i, pair in enumerate(trials)],
        interrupted=(store, stopped, stored, left),
        resumed=_finish(again),
        lost=(lost, _finish(rebuild), before),
    )


@pytest.mark.slow
def test_the_campaign_alone(runs):
    (results,) = runs.reference[1].values()
    assert results["state"] == "successful" and all(results[k] is not None for k in VALUES)


@pytest.mark.slow
def test_two_runs_on_one_store_compute_each_job_once(runs):
    for store, outcomes in runs.trials:
        for rc, _out, err in outcomes:
            assert rc == 0, err[-3000:]
            assert "Traceback" not in err and "FAILED" not in err, err[-3000:]
        # the results: one document, successful, with the numbers of the run alone
        assert _results(store) == runs.reference[1], store
        # every job computed by one of the two runs, once, and stored once
        assert sum(_counts(err)[0] for _rc, _out, err in outcomes) == JOBS, [e[-800:] for *_, e in outcomes]
        keys = _job_keys(store)
        assert len(keys) == len(set(keys)) == JOBS
        # no run moved a job folder away from under the other (an earlier attempt's files)
        assert not list((store / "work").glob("*.previous-*"))
        assert not (store / "work" / "errors.log").exists()


@pytest.mark.slow
def test_a_lost_results_collection_is_rebuilt_without_recomputing(runs):
    store, (rc, out, err), before = runs.lost
    assert before == {}
    assert rc == 0, err[-3000:]
    assert _counts(err)[0] == 0 and "1 lost result rebuilt from the stored jobs" in err, err[-1000:]
    assert "successful" in out
    assert _results(store) == runs.reference[1]


@pytest.mark.slow
def test_ctrl_c_mid_run_says_what_is_stored_and_the_same_command_resumes(runs):
    store, (rc, _out, err), stored, left = runs.interrupted
    assert rc == 130, err[-3000:]
    m = re.search(r"interrupted \(SIGINT\): (\d+) of (\d+) jobs stored \((\d+) computed by this run\)", err)
    assert m and "run the same command again to continue" in err, err[-2000:]
    assert "Traceback" not in err, err[-3000:]
    assert int(m[1]) == int(m[3]) == stored >= 4  # what it says is stored is in the store
    assert not left, "processes outlived the run"
    rc, _out, err = runs.resumed
    assert rc == 0, err[-3000:]
    ran, reused = _counts(err)
    # every stored job is reused, but an NEB screen whose sub-flow (the NEB) was cut short
    # runs again to rebuild it
    assert ran + reused == JOBS and reused >= stored - 1, err[-1000:]
    assert _results(store) == runs.reference[1]
    keys = _job_keys(store)
    assert len(keys) == len(set(keys)) == JOBS


def test_a_signal_during_a_store_write_waits_for_its_end():
    from mvflows.interrupts import Interrupted, deferred, interruptible

    before = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    with interruptible():
        with pytest.raises(Interrupted) as info:
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(1)
        assert info.value.name == "SIGTERM"
    with interruptible():
        written = []
        with pytest.raises(Interrupted), deferred():
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.2)
            written.append("the whole document")
        assert written == ["the whole document"]
    assert (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)) == before
