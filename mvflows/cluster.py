"""Campaigns on a batch cluster through jobflow-remote: project files, submission, states.

jobflow-remote keeps the queue and the outputs in MongoDB and runs every job as one
scheduler job (``sbatch``) through its runner. This module only prepares what it needs:
a project written from the packaged template ``mvflows/data/jobflow-remote.yaml`` (a
documented copy lives in ``configs/``), the campaign's Flow with
per-job-type resources and a ``pair`` tag in every job's metadata (dynamic NEB jobs
included), and summaries/reruns through jobflow-remote's ``JobController``.
"""

from __future__ import annotations

import copy
import os
import re
import sys
from collections import Counter
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from jobflow import Flow
from pymongo.errors import PyMongoError

from mvflows.campaign import Campaign, JobResources

PROJECT_TEMPLATE = Path(str(resources.files("mvflows").joinpath("data/jobflow-remote.yaml")))
LOCAL_WORKER = "local_slurm"
REMOTE_WORKER = "remote_slurm"
SHARED = "(shared)"  # jobs that serve several pairs, e.g. "relax Mg metal"

# job type -> jobflow name filters (substring match, the later ones win); dynamic jobs too
JOB_TYPE_FILTERS: dict[str, tuple[str, ...]] = {
    "relax": ("relax",),
    "neb": ("relax (fixed cell) NEB", "neb"),
}
# states worth a rerun: the job died, or the runner could not finish it
RERUN_STATES = ("FAILED", "REMOTE_ERROR")


class ClusterError(RuntimeError):
    """Bad cluster input (project, URI, job); the message is one line."""


def _mongo_uri_parts(uri: str) -> tuple[str, str]:
    """The URI without its database, and the database (default ``mvflows``)."""
    if not uri.startswith(("mongodb://", "mongodb+srv://")):
        raise ClusterError(f"--mongo must be a mongodb:// URI, not {uri!r}")
    scheme, rest = uri.split("://", 1)
    hosts, _, tail = rest.partition("/")
    database, _, options = tail.partition("?")
    base = f"{scheme}://{hosts}/{database or 'mvflows'}" + (f"?{options}" if options else "")
    return base, database or "mvflows"


@dataclass
class ProjectMaker:
    """A jobflow-remote project for mvflows, from the documented template."""

    mongo_uri: str = "mongodb://127.0.0.1:27017/mvflows"
    venv: Path = field(default_factory=lambda: Path(sys.prefix))
    work_dir: Path = field(default_factory=lambda: Path.cwd() / "mvflows_jobs")
    remote_host: str | None = None
    remote_user: str | None = None
    template: Path = PROJECT_TEMPLATE

    def make(self, name: str) -> dict[str, Any]:
        try:
            project = yaml.safe_load(self.template.read_text())
        except (OSError, yaml.YAMLError) as exc:
            raise ClusterError(f"cannot read project template {self.template}: {exc}") from None
        uri, database = _mongo_uri_parts(self.mongo_uri)
        project["name"] = name
        stores = [project["queue"]["store"], project["jobstore"]["docs_store"]]
        stores += project["jobstore"]["additional_stores"].values()
        for store in stores:
            store["uri"], store["database"] = uri, database
        project["workers"][LOCAL_WORKER]["work_dir"] = str(Path(self.work_dir).resolve())
        if self.remote_host:
            remote = project["workers"][REMOTE_WORKER]
            remote["host"] = self.remote_host
            if self.remote_user:
                remote["user"] = self.remote_user
        else:
            del project["workers"][REMOTE_WORKER]  # the runner would try to connect to it
        project["exec_config"]["mvflows"]["pre_run"] = f"source {Path(self.venv).resolve()}/bin/activate"
        return project


def projects_folder() -> Path:
    from jobflow_remote import SETTINGS

    return Path(SETTINGS.projects_folder)


def write_project(project: dict[str, Any], folder: Path | None = None, force: bool = False) -> Path:
    """Validate with jobflow-remote's own model, then write ``FOLDER/NAME.yaml``.

    NAME must be a plain file name: ``../x`` or ``a/b`` would write outside FOLDER.
    """
    name = str(project["name"])
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", name) or ".." in name:
        raise ClusterError(
            f"project name {name!r}: letters, digits, '_', '-' and '.' only "
            "(it names the file NAME.yaml in the projects folder)"
        )
    from jobflow_remote.config.base import Project

    try:
        Project.model_validate(copy.deepcopy(project))
    except Exception as exc:  # noqa: BLE001 - pydantic and store errors alike
        raise ClusterError(f"invalid jobflow-remote project: {str(exc).splitlines()[0]}") from None
    folder = Path(folder) if folder else projects_folder()
    path = folder / f"{name}.yaml"
    if path.exists() and not force:
        raise ClusterError(f"{path} exists (use --force to replace it)")
    folder.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(project, sort_keys=False))
    return path


# --- submission ------------------------------------------------------------------------


def _qresources(res: JobResources) -> dict[str, Any]:
    return res.model_dump(exclude_none=True)


def resources_by_type(campaign: Campaign) -> dict[str, dict[str, Any]]:
    """default / relax / neb resources, each type on top of ``default``."""
    default = _qresources(campaign.resources.default)
    return {
        "default": default,
        "relax": {**default, **_qresources(campaign.resources.relax)},
        "neb": {**default, **_qresources(campaign.resources.neb)},
    }


def pair_label(host: str, intercalant: str) -> str:
    return f"{intercalant}{host}"  # "MgCr2S4", as in the job names


def tag_pairs(flow: Flow, campaign: Campaign) -> None:
    """metadata.pair on every job of a pair, also on the NEB jobs created at run time."""
    names = {f"{p.intercalant} in {p.host}": pair_label(p.host, p.intercalant) for p in campaign.pair_list()}
    for item in flow.jobs:
        if isinstance(item, Flow) and item.name in names:
            item.update_metadata({"pair": names[item.name]}, dynamic=True)
    flow.update_metadata({"campaign": campaign.name}, dynamic=True)


def apply_resources(flow: Flow, campaign: Campaign, worker: str | None = None) -> dict[str, dict[str, Any]]:
    """Per job type resources and the mvflows exec_config on every job (dynamic ones too)."""
    from jobflow_remote import set_run_config

    by_type = resources_by_type(campaign)
    set_run_config(flow, exec_config="mvflows", resources=by_type["default"] or None, worker=worker)
    for job_type, filters in JOB_TYPE_FILTERS.items():
        if by_type[job_type]:
            for name_filter in filters:
                set_run_config(flow, name_filter=name_filter, resources=by_type[job_type])
    # jobflow would otherwise copy the parent's manager_config over the jobs a Response
    # adds (the NEB), undoing the per-type updates that the lines above made dynamic
    for job, _parents in flow.iterflow():
        job.config.pass_manager_config = False
    return by_type


def submit_campaign(campaign: Campaign, project: str, worker: str | None = None) -> list[str]:
    """Put the campaign's Flow into the project's queue; returns the jobs' db ids."""
    from jobflow_remote import submit_flow

    from mvflows.flows import CampaignMaker

    jc = job_controller(project)
    ensure_queue_initialised(jc)
    flow = CampaignMaker().make(campaign)
    tag_pairs(flow, campaign)
    apply_resources(flow, campaign, worker)
    refuse_queued_jobs(jc, flow, campaign)
    try:
        return submit_flow(flow, worker=worker, project=project, exec_config="mvflows")
    except (ValueError, PyMongoError) as exc:  # e.g. a duplicate job submitted in between
        raise ClusterError(
            f"jobflow-remote refused campaign {campaign.name}: {str(exc).splitlines()[0][:300]}"
        ) from None


def refuse_queued_jobs(jc, flow: Flow, campaign: Campaign) -> None:
    """Stop before submitting when some of the flow's jobs are already in the queue.

    Job uuids are content keys (:mod:`mvflows.keys`), so the same campaign, or
    another one sharing a job with the same settings (a metal reference, a host relax),
    gives the same uuids, and jobflow-remote holds a job only once: its ``add_flow``
    would fail half-way (the flow document inserted, its jobs not) with a bulk-write
    traceback. Checked first, the user gets one line and nothing is written.
    """
    uuids = flow.job_uuids
    project = jc.project.name
    queued = list(jc.jobs.find({"uuid": {"$in": list(uuids)}}, {"uuid": 1, "db_id": 1, "state": 1}))
    if not queued:
        return
    states = Counter(doc["state"] for doc in queued)  # every run (index) of those jobs
    ids = sorted(int(doc["db_id"]) for doc in queued if str(doc["db_id"]).isdigit())
    span = f"db ids {ids[0]}-{ids[-1]}; " if ids else ""
    n_queued = len({doc["uuid"] for doc in queued})
    raise ClusterError(
        f"campaign {campaign.name}: {n_queued} of its {len(set(uuids))} jobs are already in project "
        f"{project} "
        f"({span}{', '.join(f'{s} {n}' for s, n in sorted(states.items()))}), and jobflow-remote holds a job "
        f"only once: see `mvflows status --project {project}` and `mvflows results`, `mvflows rerun` "
        f"failed jobs, or empty the queue with `jf -p {project} admin reset` to submit it again"
    )


def ensure_queue_initialised(jc) -> None:
    """First use of a queue database: do what `jf admin reset` does, but only when empty."""
    if jc.auxiliary.find_one({"next_id": {"$exists": True}}) is None and jc.count_jobs() == 0:
        jc.reset()


# --- states and reruns -------------------------------------------------------------------


def job_controller(project: str | None):
    import jobflow_remote
    from jobflow_remote.config.base import ProjectUndefinedError
    from jobflow_remote.jobs.jobcontroller import JobController

    # jobflow-remote reads JFREMOTE_* once, at import: honour a folder set after that
    if os.environ.get("JFREMOTE_PROJECTS_FOLDER"):
        jobflow_remote.SETTINGS.projects_folder = os.environ["JFREMOTE_PROJECTS_FOLDER"]
    try:
        return JobController.from_project_name(project)
    except ProjectUndefinedError:
        folder = projects_folder()
        known = sorted(p.stem for p in folder.glob("*.yaml")) if folder.is_dir() else []
        found = f"projects in {folder}: {', '.join(known)}" if known else f"none in {folder} yet"
        raise ClusterError(
            f"no jobflow-remote project given: use --project NAME or set $JFREMOTE_PROJECT ({found})"
        ) from None
    except Exception as exc:  # noqa: BLE001 - config, parsing and connection errors
        raise ClusterError(
            f"cannot open jobflow-remote project {project!r}: {str(exc).splitlines()[0]}"
        ) from None


@dataclass
class JobRow:
    db_id: str
    name: str
    pair: str
    state: str
    worker: str
    remote_id: str | None
    level: str | None = None  # a refinement's jobs: the level they compute (e.g. vasp:PBE)
    refine: dict | None = None  # a refine job's record of what it picked (its stored_data)


def _first_words(exc: Exception) -> str:
    """pymongo's message up to its topology dump (hundreds of characters of no use to a user)."""
    return str(exc).splitlines()[0].split(" (configured timeouts")[0].split(", Timeout:")[0][:200]


def job_rows(project: str | None, pair: str | None = None) -> list[JobRow]:
    jc = job_controller(project)
    metadata = {"pair": pair} if pair else None
    try:
        infos = jc.get_jobs_info(metadata=metadata)
    except PyMongoError as exc:  # the queue database is down or unreachable
        raise ClusterError(
            f"cannot reach the queue database of project {jc.project.name}: {_first_words(exc)}"
        ) from None
    rows = []
    for info in sorted(infos, key=lambda i: int(i.db_id)):
        rows.append(
            JobRow(
                db_id=str(info.db_id),
                name=info.name,
                pair=(info.metadata or {}).get("pair", SHARED),
                state=info.state.name,
                worker=info.worker,
                remote_id=str(info.remote.process_id) if info.remote and info.remote.process_id else None,
                level=(info.metadata or {}).get("level"),
                refine=(info.stored_data or {}).get("refine"),
            )
        )
    return rows


def states_per_pair(rows: list[JobRow]) -> dict[str, Counter]:
    summary: dict[str, Counter] = {}
    for row in rows:
        key = f"{row.pair} ({row.level})" if row.level else row.pair
        summary.setdefault(key, Counter())[row.state] += 1
    return dict(sorted(summary.items(), key=lambda kv: (kv[0] == SHARED, kv[0])))


def rerun(project: str | None, target: str) -> list[str]:
    """Rerun the failed/killed jobs of a pair (``MgCr2S4``), or one job (db id or uuid).

    A job killed by ``scancel`` ends FAILED or REMOTE_ERROR once the runner notices;
    jobflow-remote's rerun puts it back to READY and its children back to WAITING. See
    :func:`rerun_job` for a failed job whose dependants already ran without its output.
    """
    jc = job_controller(project)
    try:
        has_pair = jc.count_jobs(metadata={"pair": target}) > 0
    except PyMongoError as exc:
        raise ClusterError(
            f"cannot reach the queue database of project {jc.project.name}: {_first_words(exc)}"
        ) from None
    if has_pair:
        changed: list[str] = []
        for info in sorted(jc.get_jobs_info(metadata={"pair": target}), key=lambda i: int(i.db_id)):
            # an earlier rerun of this pair may have put this one back to WAITING already
            (now,) = jc.get_jobs_info(db_ids=[str(info.db_id)])
            if now.state.name in RERUN_STATES:
                changed += rerun_job(jc, now)
        return changed
    key = "db_ids" if target.isdigit() or "-" not in target else "job_ids"
    found = jc.get_jobs_info(db_ids=[target]) if key == "db_ids" else jc.get_jobs_info(job_ids=[(target, 1)])
    if not found:
        raise ClusterError(
            f"no pair or job {target!r} in project {project or os.environ.get('JFREMOTE_PROJECT')}"
        )
    info = found[0]
    if info.state.name not in RERUN_STATES:
        raise ClusterError(
            f"job {info.db_id} ({info.name}) is {info.state.name}; only {'/'.join(RERUN_STATES)} jobs rerun"
        )
    return rerun_job(jc, info)


def rerun_job(jc, info) -> list[str]:
    """One FAILED/REMOTE_ERROR job back to READY, and every job after it back to WAITING.

    mvflows' summaries (an NEB summary, a pair result, a refined pair's merged levels) run
    when a job before them failed, to record why: by the time the failed job is rerun they are
    COMPLETED, which jobflow-remote's plain rerun refuses. Their documents say "failed", so
    they must run again, as ``mvflows run`` runs them again; this rerun forces that, unless one
    of the jobs after the failed one is still running (then it stops with one line).
    """
    from jobflow_remote.jobs.data import FlowDoc
    from jobflow_remote.jobs.state import RUNNING_STATES_V

    db_id = str(info.db_id)
    try:
        return jc.rerun_job(db_id=db_id)
    except ValueError as exc:
        if "is not acceptable" not in str(exc):
            raise ClusterError(
                f"cannot rerun job {db_id} ({info.name}): {str(exc).splitlines()[0]}"
            ) from None
    flow = FlowDoc.model_validate(jc.flows.find_one({"jobs": info.uuid}))
    after = flow.descendants(info.uuid)
    busy = list(
        jc.jobs.find(
            {
                "$or": [{"uuid": uuid, "index": index} for uuid, index in after] or [{"uuid": None}],
                "state": {"$in": RUNNING_STATES_V},
            },
            {"db_id": 1, "state": 1},
        )
    )
    if busy:
        running = ", ".join(f"{d['db_id']} {d['state']}" for d in busy)
        raise ClusterError(
            f"job {db_id} ({info.name}): jobs after it are still running ({running}); "
            "rerun it once they finish"
        )
    try:
        return jc.rerun_job(db_id=db_id, force=True)
    except ValueError as exc:
        raise ClusterError(f"cannot rerun job {db_id} ({info.name}): {str(exc).splitlines()[0]}") from None
