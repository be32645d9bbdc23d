"""Run a campaign's Flow in this process: resumable, failure-isolating, with progress.

jobflow's ``run_locally`` always recomputes everything. This runner walks the same graph
in the same way (replace/detour/addition responses, ``on_missing_references``), but a job
whose content-keyed uuid already has a finished output in the store is reused, not run
(see :mod:`mvflows.content_keys`). A job that raises is recorded and its dependants are
skipped unless they tolerate missing inputs (the pair result always runs).
"""

from __future__ import annotations

import contextlib
import os
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

import networkx as nx
from jobflow import Flow, Job, JobStore
from jobflow.core.flow import get_flow
from jobflow.core.reference import OnMissing, find_and_get_references
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

@dataclass
class RunReport:
    """What a run did: jobs run, reused from the store, failed (name -> one-line error)."""

    ran: int = 0
    reused: int = 0
    skipped: int = 0
    failed: dict[str, str] = field(default_factory=dict)
    seconds: list[tuple[str, float]] = field(default_factory=list)  # (job name, wall s) of jobs run


def finished(store: JobStore, uuid: str, _seen: set[str] | None = None) -> bool:
    """True when the latest stored output of ``uuid`` exists and so does all it points to.

    None marks a replaced job. A job replaced by a sub-flow (the insertion steps) ends with
    an output that is a reference to the sub-flow's last job; if that sub-flow failed, the
    reference dangles and the job must run again to rebuild it, or a re-run would reuse
    the job and every dependant would fail on the missing reference.
    """
    doc = store.query_one({"uuid": uuid}, properties=["output", "index"], sort={"index": -1})
    if doc is None or doc.get("output") is None:
        return False
    seen = _seen if _seen is not None else set()
    seen.add(uuid)
    return all(ref.uuid in seen or finished(store, ref.uuid, seen) for ref in find_and_get_references(doc["output"]))


def _ordered(flow: Flow) -> list[tuple[Job, list[str]]]:
    """Topological order that finishes one pair before starting the next (creation order)."""
    graph = flow.graph
    position: dict[str, int] = {}
    for i, job in enumerate(_all_jobs(flow)):
        position.setdefault(job.uuid, i)  # a job shared by pairs (same content) counts where first used
    order = nx.lexicographical_topological_sort(graph, key=lambda u: position.get(u, len(position)))
    jobs = {job.uuid: job for job in _all_jobs(flow)}
    return [(jobs[u], list(graph.predecessors(u))) for u in order if u in jobs]


def _all_jobs(flow: Flow) -> list[Job]:
    out: list[Job] = []
    for item in flow.jobs:
        out += _all_jobs(item) if isinstance(item, Flow) else [item]
    return out


def run_flow(
    flow: Flow | Job,
    store: JobStore,
    work_dir: str | Path,
    fresh: bool = False,
    show_progress: bool = True,
    console: Console | None = None,
) -> RunReport:
    """Run ``flow`` against ``store``; reuse finished jobs unless ``fresh``."""
    flow = get_flow(flow)
    work_dir = Path(work_dir).resolve()
    work_dir.mkdir(parents=True, exist_ok=True)
    store.connect()
    report = RunReport()
    errored: set[str] = set()
    ran_now: set[str] = set()  # computed in this run: their dependants cannot be reused
    show = show_progress and os.environ.get("MVFLOWS_NO_PROGRESS") != "1"
    progress = Progress(
        TextColumn("{task.description:<44}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        disable=not show,
    )
    task = progress.add_task("jobs", total=len(_all_jobs(flow)))
    error_log = work_dir / "errors.log"

    def run_one(job: Job, parents: list[str]) -> None:
        if errored.intersection(parents) and job.config.on_missing_references == OnMissing.ERROR:
            errored.add(job.uuid)
            report.skipped += 1
            progress.advance(task)
            return
        progress.update(task, description=job.name[:44])
        # a stored output is stale when an input was recomputed now (e.g. a pair result
        # written while a parent had failed, before that parent was rerun)
        if not fresh and not ran_now.intersection(parents) and finished(store, job.uuid):
            report.reused += 1
            progress.advance(task)
            return
        try:
            # every job in a folder of its own (VASP jobs write files; force-field jobs leave none)
            job_dir = work_dir / f"job_{job.uuid}_{job.index}"
            job_dir.mkdir(parents=True, exist_ok=True)
            t0 = time.perf_counter()
            with contextlib.chdir(job_dir):
                response = job.run(store=store)
            report.seconds.append((job.name, time.perf_counter() - t0))
            if not any(job_dir.iterdir()):
                job_dir.rmdir()
        except Exception as exc:  # noqa: BLE001 - any job failure is isolated and reported
            errored.add(job.uuid)
            message = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
            report.failed[f"{job.name} ({job.uuid})"] = f"{type(exc).__name__}: {message}"
            with error_log.open("a") as fh:
                fh.write(f"--- {job.name} ({job.uuid})\n{traceback.format_exc()}\n")
            progress.console.print(f"[red]job failed:[/red] {job.name}: {type(exc).__name__}: {message}")
            progress.advance(task)
            return
        report.ran += 1
        ran_now.add(job.uuid)
        progress.advance(task)
        for sub in (response.replace, response.detour, response.addition):
            if sub is not None:
                sub_flow = get_flow(sub)
                progress.update(task, total=progress.tasks[0].total + len(_all_jobs(sub_flow)))
                run_all(sub_flow)

    def run_all(f: Flow) -> None:
        for job, parents in _ordered(f):
            run_one(job, parents)

    with progress, contextlib.chdir(work_dir):
        run_all(flow)
        progress.update(task, description="done")
    return report
