"""The cluster path: jobflow-remote project, submit, status, rerun, results over the wire.

The fast tests need no services. The end-to-end tests run a real one-node SLURM and a
MongoDB wire-protocol server (``tests/cluster_services.py``): smoke_refine.yaml is
submitted, the jobflow-remote runner sends every job through ``sbatch``, one running job is
killed with ``scancel`` and brought back with ``mvflows rerun``, the better pair's VASP
graph (fake VASP through atomate2's ``run_vasp`` and custodian) joins the flow, its NEB
fails and is brought back with ``mvflows rerun PAIR``, and both levels are read back with
``mvflows results --store mongodb://...``; then one pair on fake VASP alone goes the
production path, SLURM -> atomate2's ``run_vasp`` -> custodian -> ``mvflows-fake-vasp``.
"""

from __future__ import annotations

import contextlib
import gzip
import json
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from conftest import ROOT, WORKFLOWS, fake_vasp_cmd

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cluster_services

BIN = Path(sys.executable).parent
E2E_TIMEOUT_S = float(os.environ.get("MVFLOWS_E2E_TIMEOUT", "1500"))  # ~11 min on a busy 2-core VM
# smoke.yaml, default model, with a shorter NEB and one core per NEB job so that the two
# pairs' NEBs share the 2-core test node instead of queueing behind each other
E2E_OVERRIDES = {"neb": {"steps": 30, "endpoint_steps": 30}, "resources": {"neb": {"cpus_per_task": 1}}}


def mvflows(*args: str, env: dict | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(BIN / "mvflows"), *args], capture_output=True, text=True, env=env, timeout=timeout, cwd=ROOT
    )


# --- fast: project file, resources, bad input -----------------------------------------


def test_cluster_init_writes_a_valid_project(tmp_path):
    from jobflow_remote.config.base import Project

    env = {**os.environ, "JFREMOTE_PROJECTS_FOLDER": str(tmp_path)}
    out = mvflows(
        "cluster", "init", "mvt", "--mongo", "mongodb://db.example:27018/mv", "--work-dir", "jobs", env=env
    )
    assert out.returncode == 0, out.stderr
    data = yaml.safe_load((tmp_path / "mvt.yaml").read_text())
    project = Project.model_validate(data)
    assert list(project.workers) == ["local_slurm"]
    assert project.workers["local_slurm"].scheduler_type == "slurm"
    assert project.queue.store["type"] == "MongoStore"
    assert project.queue.store["uri"] == "mongodb://db.example:27018/mv"
    stores = data["jobstore"]["additional_stores"]
    assert (
        stores["results"]["collection_name"] == "pair_results" and stores["data"]["collection_name"] == "data"
    )
    assert data["jobstore"]["docs_store"]["collection_name"] == "outputs"
    assert f"source {Path(sys.prefix).resolve()}/bin/activate" == data["exec_config"]["mvflows"]["pre_run"]
    # the same again needs --force; --remote-host keeps the SSH worker
    again = mvflows("cluster", "init", "mvt", env=env)
    assert again.returncode == 2 and again.stderr.startswith("error:") and "--force" in again.stderr
    remote = mvflows(
        "cluster", "init", "mvt", "--force", "--remote-host", "hpc.example", "--remote-user", "me", env=env
    )
    assert remote.returncode == 0, remote.stderr
    workers = yaml.safe_load((tmp_path / "mvt.yaml").read_text())["workers"]
    assert workers["remote_slurm"]["host"] == "hpc.example" and workers["remote_slurm"]["type"] == "remote"


def test_cluster_commands_reject_bad_input(tmp_path):
    env = {**os.environ, "JFREMOTE_PROJECTS_FOLDER": str(tmp_path)}
    bad_uri = mvflows("cluster", "init", "x", "--mongo", "http://nope", env=env)
    assert (
        bad_uri.returncode == 2
        and bad_uri.stderr.startswith("error:")
        and len(bad_uri.stderr.splitlines()) == 1
    )
    bad_campaign = tmp_path / "bad.yaml"
    bad_campaign.write_text(
        "name: b\npairs: [{host: Cr2S4, intercalant: Mg}]\nresources: {neb: {cores: 4}}\n"
    )
    out = mvflows("submit", str(bad_campaign), "--project", "x", env=env)
    assert out.returncode == 2 and "resources.neb.cores: unknown key" in out.stderr
    missing = mvflows("status", "--project", "no_such_project", env=env)
    assert missing.returncode == 2 and missing.stderr.startswith("error:")


def test_resources_per_job_type_reach_dynamic_jobs(campaign_file):
    from jobflow import Flow, Response, job

    from mvflows.campaign import load_campaign
    from mvflows.cluster import apply_resources

    camp = load_campaign(
        campaign_file(
            "name: r\npairs: [{host: Cr2S4, intercalant: Mg}]\n"
            "resources:\n  default: {time: '00:10:00'}\n  relax: {cpus_per_task: 1}\n"
            "  neb: {cpus_per_task: 8, time: '02:00:00', partition: long}\n"
        )
    )

    @job
    def neb(x):
        return x

    @job
    def screen():
        return Response(replace=Flow([neb(1)]))

    relax, scr = job(lambda: 1)(), screen()
    relax.name, scr.name = "relax Cr2S4", "NEB screen MgCr2S4"
    flow = Flow([relax, scr])
    by_type = apply_resources(flow, camp)
    assert by_type["neb"] == {"cpus_per_task": 8, "time": "02:00:00", "partition": "long"}
    assert relax.config.manager_config == {
        "exec_config": "mvflows",
        "resources": {"time": "00:10:00", "cpus_per_task": 1},
    }
    assert scr.config.manager_config["resources"] == {"time": "00:10:00"}
    # the NEB job created by the screen's Response gets the neb resources
    added = scr.run(store=_memory_store()).replace
    ((new, _parents),) = added.iterflow()  # named "...<locals>.neb"
    assert new.config.manager_config["resources"]["cpus_per_task"] == 8


def test_submit_refuses_jobs_already_in_the_queue(campaign_file):
    """Content-keyed uuids: a second submit of the same jobs stops with one line, writes nothing."""
    from types import SimpleNamespace

    import mongomock

    from mvflows.campaign import load_campaign
    from mvflows.cluster import ClusterError, refuse_queued_jobs
    from mvflows.flows import CampaignMaker

    camp = load_campaign(campaign_file("name: dup\npairs: [{host: Cr2S4, intercalant: Mg}]\n"))
    flow = CampaignMaker().make(camp)
    jobs = mongomock.MongoClient().db.jobs
    jc = SimpleNamespace(jobs=jobs, project=SimpleNamespace(name="p"))
    refuse_queued_jobs(jc, flow, camp)  # empty queue: fine
    first = flow.job_uuids[0]
    jobs.insert_many(
        [
            {"uuid": first, "index": 1, "db_id": "1", "state": "COMPLETED"},
            {"uuid": first, "index": 2, "db_id": "7", "state": "COMPLETED"},
        ]
    )
    with pytest.raises(ClusterError) as exc:
        refuse_queued_jobs(jc, flow, camp)
    msg = str(exc.value)
    assert f"1 of its {len(set(flow.job_uuids))} jobs are already in project p" in msg
    assert "db ids 1-7; COMPLETED 2" in msg and "jf -p p admin reset" in msg and "\n" not in msg


def _queue_of(*jobs):
    """A jobflow-remote queue in memory (mongomock) holding one flow of ``jobs``."""
    from types import SimpleNamespace

    from jobflow import Flow
    from jobflow_remote.jobs.jobcontroller import JobController
    from maggma.stores import MemoryStore

    jc = JobController(queue_store=MemoryStore("jobs"), jobstore=_memory_store())
    workers = {"w": SimpleNamespace(is_local=True)}
    jc.project = SimpleNamespace(name="mem", queue=SimpleNamespace(db_id_prefix=None), workers=workers)
    jc.reset()
    return jc, jc.add_flow(Flow(list(jobs)), worker="w")


def test_rerun_of_a_failed_job_whose_summaries_ran(monkeypatch):
    """A failed VASP job's summaries (NEB summary, pair result: OnMissing.NONE) run to say it failed;
    jobflow-remote's plain rerun refuses a job whose children COMPLETED, mvflows rerun runs them again,
    but not while one of them is still running."""
    from jobflow import JobConfig, OnMissing, job

    import mvflows.cluster as cluster

    @job
    def neb(x):
        return x

    @job(config=JobConfig(on_missing_references=OnMissing.NONE))
    def summary(x):
        return x

    crashed = neb(1)
    first = summary(crashed.output)
    second = summary(first.output)
    jc, ids = _queue_of(crashed, first, second)
    jc.jobs.update_one({"uuid": crashed.uuid}, {"$set": {"state": "FAILED"}})
    jc.jobs.update_one({"uuid": first.uuid}, {"$set": {"state": "COMPLETED"}})
    jc.jobs.update_one({"uuid": second.uuid}, {"$set": {"state": "RUNNING"}})
    with pytest.raises(ValueError, match="COMPLETED which is not acceptable"):
        jc.rerun_job(db_id=ids[0])
    monkeypatch.setattr(cluster, "job_controller", lambda _project: jc)
    with pytest.raises(cluster.ClusterError, match=rf"jobs after it are still running \({ids[2]} RUNNING\)"):
        cluster.rerun("mem", ids[0])
    jc.jobs.update_one({"uuid": second.uuid}, {"$set": {"state": "COMPLETED"}})
    assert sorted(cluster.rerun("mem", ids[0])) == sorted(ids)
    assert {i.db_id: i.state.name for i in jc.get_jobs_info()} == {
        ids[0]: "READY",
        ids[1]: "WAITING",
        ids[2]: "WAITING",
    }


def _memory_store():
    from jobflow import JobStore
    from maggma.stores import MemoryStore

    store = JobStore(MemoryStore())
    store.connect()
    return store


# --- end to end: real SLURM + MongoDB wire protocol ----------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _unavailable(reason: str) -> None:
    if os.environ.get("CI") or os.environ.get("MVFLOWS_REQUIRE_CLUSTER"):
        pytest.fail(f"cluster services must run in CI: {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def services(tmp_path_factory):
    """SLURM (started unless already up) and a fresh wire server; stopped afterwards."""
    state = tmp_path_factory.mktemp("wire")
    try:
        slurm_started = cluster_services.start_slurm()
        wire = cluster_services.start_wire_server(state=state, port=_free_port())
    except cluster_services.ServiceUnavailable as exc:
        _unavailable(str(exc))
    yield wire
    cluster_services.stop_wire_server(state=state)
    if slurm_started:
        cluster_services.stop_slurm()


def _wait(predicate, timeout: float, what: str, interval: float = 2.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


@pytest.mark.slow
def test_refine_campaign_through_slurm_and_mongodb(services, tmp_path):
    """smoke_refine.yaml through jobflow-remote and SLURM: the force-field screen of two pairs,
    then the better pair's VASP graph (fake VASP through run_vasp and custodian) added to the
    same flow. One running job is killed with scancel and rerun; the refined NEB fails while a
    file exists, shows as failed, and ``mvflows rerun PAIR`` brings it back; both levels are
    read back over the wire."""
    from mvflows.cluster import job_controller, job_rows
    from mvflows.store import query_results, results_store

    env = {**os.environ, "JFREMOTE_PROJECTS_FOLDER": str(tmp_path / "projects"), "JFREMOTE_PROJECT": "e2e"}
    os.environ.update({k: env[k] for k in ("JFREMOTE_PROJECTS_FOLDER", "JFREMOTE_PROJECT")})
    uri = f"{services.uri}/mvflows_e2e"
    init = mvflows("cluster", "init", "e2e", "--mongo", uri, "--work-dir", str(tmp_path / "jobs"), env=env)
    assert init.returncode == 0, init.stderr
    project_file = tmp_path / "projects" / "e2e.yaml"
    project = yaml.safe_load(project_file.read_text())
    assert project["workers"]["local_slurm"]["scheduler_type"] == "slurm"
    project["runner"].update(delay_checkout=2, delay_check_run_status=2, delay_advance_status=2)  # short jobs
    project_file.write_text(yaml.safe_dump(project))

    # the refinement: a few surrogate steps, no static after each relax, and its NEB fails
    # while `neb-fails` exists (fake.fail_while), as a crashed VASP job would
    cmd = fake_vasp_cmd()
    fail_file = tmp_path / "neb-fails"
    fail_file.touch()
    fake = {"max_ionic_steps": 4, "vasp_cmd": cmd, "fail": ["neb"], "fail_while": str(fail_file)}
    (tmp_path / "vasp.yaml").write_text(yaml.safe_dump({"static_after_relax": False, "fake": fake}))
    campaign = yaml.safe_load(Path(WORKFLOWS, "smoke_refine.yaml").read_text())
    for section, values in E2E_OVERRIDES.items():
        campaign.setdefault(section, {}).update(values)
    campaign["neb"]["supercell"] = [1, 1, 1]  # the refined NEB: a short band in the primitive cell
    campaign["refine"]["vasp_config"] = str(tmp_path / "vasp.yaml")
    (tmp_path / "refine.yaml").write_text(yaml.safe_dump(campaign))

    t_submit = time.time()
    sub = mvflows("submit", str(tmp_path / "refine.yaml"), "--project", "e2e", env=env)
    assert sub.returncode == 0, sub.stderr
    assert "2 pairs" in sub.stdout and "refine: the best 1 by barrier_ev" in sub.stdout, sub.stdout
    n_static = int(re.search(r"2 pairs, (\d+) jobs", sub.stdout).group(1))

    jc = job_controller("e2e")
    seen_in_squeue: set[str] = set()

    def squeue_ids() -> set[str]:
        out = subprocess.run(["squeue", "-h", "-o", "%i %T"], capture_output=True, text=True).stdout
        lines = [line for line in out.split("\n") if line.strip()]
        seen_in_squeue.update(line.split()[0] for line in lines)
        return {line.split()[0] for line in lines if line.endswith("RUNNING")}

    def remaining() -> float:
        return E2E_TIMEOUT_S - (time.time() - t_submit)

    with _jf_runner("e2e", env, tmp_path):
        # kill the first job SLURM runs, as a node failure or a user's scancel would
        def running_job():
            running = squeue_ids()
            for info in jc.get_jobs_info():
                if info.remote.process_id and str(info.remote.process_id) in running:
                    return info
            return None

        victim = _wait(running_job, 180, "a job RUNNING in SLURM", interval=1)
        subprocess.run(["scancel", str(victim.remote.process_id)], check=True)
        killed = _wait(
            lambda: (
                (i := jc.get_jobs_info(db_ids=[victim.db_id])[0]).state.name in ("FAILED", "REMOTE_ERROR")
                and i
            ),
            180,
            f"job {victim.db_id} ({victim.name}) to fail after scancel",
        )
        rerun = mvflows("rerun", str(killed.db_id), "--project", "e2e", env=env)
        assert rerun.returncode == 0, rerun.stderr

        # the refined NEB fails; everything else finishes (the summaries record the failure)
        def settled_with_the_neb_failed():
            squeue_ids()
            rows = job_rows("e2e")
            failed = [r for r in rows if r.state in ("FAILED", "REMOTE_ERROR")]
            assert all(r.level and r.name == "NEB" for r in failed), [(r.name, r.state) for r in failed]
            done = {r.state for r in rows} <= {"COMPLETED", "FAILED"}
            return failed and done and rows

        rows = _wait(settled_with_the_neb_failed, remaining(), "the refined NEB to fail, the rest to finish")
        (failed_neb,) = [r for r in rows if r.state == "FAILED"]
        refined_pair, level = failed_neb.pair, failed_neb.level
        assert level == "fake-vasp:PBE", level
        status = mvflows("status", "--project", "e2e", env=env)
        assert status.returncode == 0, status.stderr
        flat = " ".join(status.stdout.split())
        assert f"{refined_pair} ({level})" in flat and "FAILED 1" in flat, status.stdout
        picked = re.search(r"refine: picked (\w+) \(barrier_ev [\d.]+\) of 2 pairs for fake-vasp:PBE", flat)
        assert picked and picked.group(1) == refined_pair, status.stdout
        partial = json.loads(mvflows("results", "--store", uri, "--format", "json", env=env).stdout)
        (doc,) = [d for d in partial if f"{d['intercalant']}{d['host']}" == refined_pair]
        assert doc["state"] in ("partial", "failed") and "NEB" in " ".join(doc["failure_reasons"]), doc

        # the cause goes away; the pair's failed job and what depends on it run again
        fail_file.unlink()
        again = mvflows("rerun", refined_pair, "--project", "e2e", env=env)
        assert again.returncode == 0 and failed_neb.db_id in again.stdout, (again.stdout, again.stderr)

        def all_done():
            squeue_ids()
            infos = jc.get_jobs_info()
            states = {i.state.name for i in infos}
            assert not states & {"FAILED", "REMOTE_ERROR"}, [(i.name, i.state.name, i.error) for i in infos]
            return states == {"COMPLETED"} and infos

        infos = _wait(all_done, remaining(), "every job COMPLETED after the rerun")
        t_last = time.time()
    docs = query_results(results_store(uri))

    # the results, read over the wire by the CLI: every pair at its headline level ...
    res = mvflows("results", "--store", uri, "--format", "json", env=env)
    assert res.returncode == 0, res.stderr
    cli_docs = {f"{d['intercalant']}{d['host']}": d for d in json.loads(res.stdout)}
    assert set(cli_docs) == {"MgCr2S4", "ZnTi2S4"} and len(docs) == 2
    assert all(d["state"] == "successful" and d["voltage_v"] is not None for d in cli_docs.values()), cli_docs
    refined = cli_docs[refined_pair]
    assert refined["headline_level"] == level and refined["fake_vasp"] is True
    assert set(refined["levels"]) == {"forcefield:SevenNet", level}
    assert refined["barrier_ev"] == refined["levels"][level]["barrier_ev"] is not None
    (other,) = set(cli_docs) - {refined_pair}
    assert cli_docs[other]["headline_level"] == "forcefield:SevenNet"
    # ... and each level on its own
    for name, expected in (("forcefield:SevenNet", set(cli_docs)), (level, {refined_pair})):
        by_level = mvflows("results", "--store", uri, "--level", name, "--format", "json", env=env)
        assert by_level.returncode == 0, by_level.stderr
        assert {f"{d['intercalant']}{d['host']}" for d in json.loads(by_level.stdout)} == expected

    # every job went through SLURM: a SLURM id per job, each finished in SLURM's log
    slurm_ids = {str(i.remote.process_id) for i in infos}
    assert len(slurm_ids) == len(infos) and "None" not in slurm_ids
    finished = {j["JobId"]: j["JobState"] for j in cluster_services.finished_slurm_jobs()}
    assert slurm_ids <= set(finished), slurm_ids - set(finished)
    assert {finished[s] for s in slurm_ids} == {"COMPLETED"}
    assert finished.get(str(victim.remote.process_id)) == "CANCELLED"
    # the NEB's first SLURM job ended normally (the job script caught VASP's failure and
    # jobflow-remote recorded it); the rerun ran in a SLURM job of its own
    assert failed_neb.remote_id in finished and failed_neb.remote_id not in slurm_ids
    assert seen_in_squeue & slurm_ids
    # the refined pair's VASP jobs: custodian ran the fake executable in each SLURM job's folder
    vasp_runs = _custodian_vasp_cmds(infos)
    # metal, host, tet, oct, the NEB start, the plausibility check's intermediate site, the NEB
    assert len(vasp_runs) == 7, sorted(name for name, _ in vasp_runs)
    # the campaign's command, with the failure it asked for (fake.fail, fake.fail_while) appended
    wanted = [*shlex.split(cmd), "--fail", "neb", "--fail-while", str(fail_file)]
    assert all(vasp_cmd == wanted for _, vasp_cmd in vasp_runs), vasp_runs

    # the same campaign again: its content-keyed jobs are in the queue already; one line, exit 2
    resub = mvflows("submit", str(tmp_path / "refine.yaml"), "--project", "e2e", env=env)
    assert resub.returncode == 2 and resub.stderr.startswith("error:"), resub.stderr
    assert f"{n_static} of its {n_static} jobs are already in project e2e" in resub.stderr
    assert len(resub.stderr.splitlines()) == 1

    report = {
        "submit_to_last_result_s": round(t_last - t_submit),
        "jobflow_jobs": len(infos),
        "slurm_jobs": len(slurm_ids) + 2,  # + the cancelled one and the NEB's failed one
        "refined": refined_pair,
        "barriers_ev": {name: refined["levels"][name]["barrier_ev"] for name in refined["levels"]},
    }
    print("cluster e2e:", json.dumps(report))  # pytest -s shows it


def _custodian_vasp_cmds(infos) -> list[tuple[str, list[str]]]:
    """(job name, VASP command) of every job whose folder has custodian's log: the jobs that ran VASP."""
    runs = []
    for info in infos:
        logs = list(Path(info.run_dir).glob("custodian.json*")) if info.run_dir else []
        if logs:
            with (gzip.open if logs[0].suffix == ".gz" else open)(logs[0], "rt") as fh:
                runs.append((info.name, json.load(fh)[0]["job"]["vasp_cmd"]))
    return runs


@contextlib.contextmanager
def _jf_runner(project: str, env: dict, cwd: Path):
    """A jobflow-remote runner for ``project`` in its own session; stopped, and its SLURM jobs
    cancelled, on the way out."""
    from mvflows.cluster import job_controller

    log = open(cwd / f"runner-{project}.log", "w")  # noqa: SIM115
    runner = subprocess.Popen(
        [str(BIN / "jf"), "-p", project, "runner", "run", "--log-level", "warn"],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
        cwd=cwd,
        start_new_session=True,
    )
    try:
        yield runner
    finally:
        runner.terminate()
        try:
            runner.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(runner.pid, signal.SIGKILL)
            runner.wait(30)
        log.close()
        infos = job_controller(project).get_jobs_info()
        leftover = [str(i.remote.process_id) for i in infos if i.state.name in ("SUBMITTED", "RUNNING")]
        if leftover:  # only this project's SLURM jobs
            subprocess.run(["scancel", *leftover], check=False)


FAKE_VASP_PAIR = """
name: fake-vasp-cluster
pairs: [{{host: Cr2S4, intercalant: Mg}}]
calculator:
  kind: fake-vasp
  model: SevenNet
  vasp_config: {config}
  relax: {{fmax: 0.1, steps: 30}}
neb: {{enabled: false}}   # relaxes, sites and voltage: the VASP jobs, on few SLURM jobs
"""


@pytest.mark.slow
def test_fake_vasp_pair_through_slurm_custodian_and_the_executable(services, tmp_path):
    """One light pair on fake VASP: every VASP job a SLURM job running atomate2's run_vasp, whose
    custodian launches mvflows-fake-vasp; the result read back from MongoDB."""
    from mvflows.cluster import job_controller

    env = {**os.environ, "JFREMOTE_PROJECTS_FOLDER": str(tmp_path / "projects"), "JFREMOTE_PROJECT": "fakev"}
    os.environ.update({k: env[k] for k in ("JFREMOTE_PROJECTS_FOLDER", "JFREMOTE_PROJECT")})
    uri = f"{services.uri}/mvflows_fake_vasp"
    init = mvflows("cluster", "init", "fakev", "--mongo", uri, "--work-dir", str(tmp_path / "jobs"), env=env)
    assert init.returncode == 0, init.stderr
    project_file = tmp_path / "projects" / "fakev.yaml"
    project = yaml.safe_load(project_file.read_text())
    project["runner"].update(delay_checkout=1, delay_check_run_status=1, delay_advance_status=1)
    project_file.write_text(yaml.safe_dump(project))
    # a few surrogate steps; no static after each relax (fewer SLURM jobs, the same path)
    cmd = fake_vasp_cmd()
    config = {"static_after_relax": False, "fake": {"max_ionic_steps": 4, "vasp_cmd": cmd}}
    (tmp_path / "vasp.yaml").write_text(yaml.safe_dump(config))
    (tmp_path / "pair.yaml").write_text(FAKE_VASP_PAIR.format(config=tmp_path / "vasp.yaml"))

    t_submit = time.time()
    sub = mvflows("submit", str(tmp_path / "pair.yaml"), "--project", "fakev", env=env)
    assert sub.returncode == 0, sub.stderr
    jc = job_controller("fakev")
    with _jf_runner("fakev", env, tmp_path):

        def all_done():
            infos = jc.get_jobs_info()
            states = {i.state.name for i in infos}
            assert not states & {"FAILED", "REMOTE_ERROR"}, [(i.name, i.state.name, i.error) for i in infos]
            return states == {"COMPLETED"} and infos

        infos = _wait(all_done, E2E_TIMEOUT_S, "every fake VASP job COMPLETED")
    wall = time.time() - t_submit

    res = mvflows("results", "--store", uri, "--format", "json", env=env)
    assert res.returncode == 0, res.stderr
    (doc,) = json.loads(res.stdout)
    assert (doc["host"], doc["intercalant"], doc["state"]) == ("Cr2S4", "Mg", "successful"), doc
    assert doc["calculator"] == "fake-vasp:PBE" and doc["fake_vasp"] is True
    assert 0.0 < doc["voltage_v"] < 4.0 and doc["neb_skipped_reason"]

    # every job a SLURM job, each finished in SLURM's log
    slurm_ids = {str(i.remote.process_id) for i in infos}
    assert len(slurm_ids) == len(infos) and "None" not in slurm_ids
    finished = {j["JobId"]: j["JobState"] for j in cluster_services.finished_slurm_jobs()}
    assert {finished.get(s) for s in slurm_ids} == {"COMPLETED"}
    # the VASP jobs: custodian ran the fake executable in the SLURM job's folder
    vasp_runs = _custodian_vasp_cmds(infos)
    names = sorted(name for name, _ in vasp_runs)
    assert len(vasp_runs) == 4, names  # Mg metal, Cr2S4, MgCr2S4 tet and oct
    assert all(vasp_cmd == shlex.split(cmd) for _, vasp_cmd in vasp_runs), vasp_runs
    print("fake VASP on SLURM:", json.dumps({"submit_to_done_s": round(wall), "jobs": len(infos)}))
