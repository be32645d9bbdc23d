"""Run a campaign's Flow on this machine: resumable, failure-isolating, with progress.

jobflow's ``run_locally`` always recomputes everything, one job at a time. This runner
walks the same graph in the same way (replace/detour/addition responses,
``on_missing_references``), but a job whose content-keyed uuid already has a finished
output in the store is reused, not run (see :mod:`mvflows.content_keys`), and
independent jobs can run side by side in worker processes (:mod:`mvflows.job_workers`).
A job that raises is recorded and its dependants are skipped unless they tolerate
missing inputs (the pair result always runs). A sub-flow a job returns runs before the
job's dependants and ahead of later pairs.
"""

from __future__ import annotations

import contextlib
import os
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from concurrent.futures import FIRST_COMPLETED, Future, wait
from concurrent.futures.process import BrokenProcessPool

import networkx as nx
from monty.json import MontyDecoder
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


@dataclass(eq=False)
class _Node:
    """One job to run; ``group`` is the job whose response created it (replace/detour/addition)."""

    job: Job
    parents: list[str]
    group: _Node | None = None
    outstanding: int = 0  # jobs of this job's sub-flows not yet done
    reusable: bool | None = None  # decided once, when its parents are done


def run_flow(
    flow: Flow | Job,
    store: JobStore,
    work_dir: str | Path,
    fresh: bool = False,
    show_progress: bool = True,
    console: Console | None = None,
    jobs: int = 1,
) -> RunReport:
    """Run ``flow`` against ``store``; reuse finished jobs unless ``fresh``.

    ``jobs`` > 1 runs up to that many independent jobs at once, each in a worker process
    with one core (:mod:`mvflows.job_workers`); jobs that read the store themselves
    (``expose_store``) and all jobs when ``jobs`` is 1 run in this process.
    """
    flow = get_flow(flow)
    work_dir = Path(work_dir).resolve()
    work_dir.mkdir(parents=True, exist_ok=True)
    store.connect()
    show = show_progress and os.environ.get("MVFLOWS_NO_PROGRESS") != "1"
    progress = Progress(
        TextColumn("{task.description:<44}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        disable=not show,
    )
    run = _Run(store, work_dir, fresh, jobs, progress, progress.add_task("jobs", total=len(_all_jobs(flow))))
    with progress, contextlib.chdir(work_dir):
        run.all(flow)
        progress.update(run.task, description="done")
    return run.report


class _Run:
    """The state of one run: which jobs wait, run, are done; the worker pool, if any."""

    def __init__(self, store: JobStore, work_dir: Path, fresh: bool, jobs: int, progress: Progress, task: int):
        self.store, self.work_dir, self.fresh, self.jobs = store, work_dir, fresh, jobs
        self.progress, self.task = progress, task
        self.report = RunReport()
        self.errored: set[str] = set()
        self.ran_now: set[str] = set()  # computed in this run: their dependants cannot be reused
        self.done: set[str] = set()  # uuids whose job and sub-flows have all finished (or failed)
        self.known: set[str] = set()  # uuids of every job of this run, to tell inputs from outside it
        self.pending: list[_Node] = []
        self.running: dict[Future, tuple[_Node, Any]] = {}  # -> (job, the pool running it)
        self.pool: Any = None

    def all(self, flow: Flow) -> None:
        self.enqueue(flow, None)
        try:
            while self.pending or self.running:
                if self.start_ready():
                    continue
                if not self.running:
                    raise RuntimeError(f"{len(self.pending)} jobs wait on each other: the flow has a cycle")
                finished_now, _ = wait(list(self.running), return_when=FIRST_COMPLETED)
                for future in finished_now:
                    self.collect(future)
        finally:
            if self.pool is not None:
                self.pool.shutdown(wait=True, cancel_futures=True)

    # ------------------------------------------------------------ bookkeeping
    def enqueue(self, flow: Flow, group: _Node | None) -> None:
        nodes = [_Node(job, parents, group) for job, parents in _ordered(flow)]
        self.known.update(n.job.uuid for n in nodes)
        if group is None:
            self.pending += nodes
            return
        group.outstanding += len(nodes)
        self.progress.update(self.task, total=self.progress.tasks[0].total + len(nodes))
        self.pending[:0] = nodes  # a sub-flow runs before later pairs

    def close(self, node: _Node) -> None:
        """The job and everything it spawned are done: release its dependants."""
        self.done.add(node.job.uuid)
        group = node.group
        if group is not None:
            group.outstanding -= 1
            if group.outstanding == 0:
                self.close(group)

    def fail(self, node: _Node, exc: BaseException, trace: str) -> None:
        job = node.job
        self.errored.add(job.uuid)
        message = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
        self.report.failed[f"{job.name} ({job.uuid})"] = f"{type(exc).__name__}: {message}"
        with (self.work_dir / "errors.log").open("a") as fh:
            fh.write(f"--- {job.name} ({job.uuid})\n{trace}\n")
        self.progress.console.print(f"[red]job failed:[/red] {job.name}: {type(exc).__name__}: {message}")
        self.progress.advance(self.task)
        self.close(node)

    def succeed(self, node: _Node, seconds: float, sub_flows: list) -> None:
        self.report.seconds.append((node.job.name, seconds))
        self.report.ran += 1
        self.ran_now.add(node.job.uuid)
        self.progress.advance(self.task)
        for sub in reversed([s for s in sub_flows if s is not None]):
            self.enqueue(get_flow(sub), node)
        if node.outstanding == 0:
            self.close(node)

    def job_dir(self, job: Job) -> Path:
        # every job in a folder of its own (VASP jobs write files; force-field jobs leave none)
        return self.work_dir / f"job_{job.uuid}_{job.index}"

    # ------------------------------------------------------------ scheduling
    def start_ready(self) -> bool:
        """Start, reuse or skip the first ready job in order; False when none can start now."""
        for i, node in enumerate(self.pending):
            if any(p in self.known and p not in self.done for p in node.parents):
                continue
            job = node.job
            skip = self.errored.intersection(node.parents) and job.config.on_missing_references == OnMissing.ERROR
            if node.reusable is None:
                # a stored output is stale when an input was recomputed now (e.g. a pair
                # result written while a parent had failed, before that parent was rerun)
                node.reusable = bool(
                    not skip and not self.fresh and not self.ran_now.intersection(node.parents)
                    and finished(self.store, job.uuid)
                )
            here = self.jobs <= 1 or job.config.expose_store
            if not (skip or node.reusable or here) and len(self.running) >= self.jobs:
                continue
            del self.pending[i]
            self.progress.update(self.task, description=job.name[:44])
            if skip:
                self.errored.add(job.uuid)
                self.report.skipped += 1
                self.progress.advance(self.task)
                self.close(node)
            elif node.reusable:
                self.report.reused += 1
                self.progress.advance(self.task)
                self.close(node)
            elif here:
                self.run_here(node)
            else:
                self.submit(node)
            return True
        return False

    # ------------------------------------------------------------ running
    def run_here(self, node: _Node) -> None:
        path = self.job_dir(node.job)
        try:
            path.mkdir(parents=True, exist_ok=True)
            t0 = time.perf_counter()
            with contextlib.chdir(path):
                response = node.job.run(store=self.store)
            seconds = time.perf_counter() - t0
            _drop_if_empty(path)
        except Exception as exc:  # noqa: BLE001 - any job failure is isolated and reported
            self.fail(node, exc, traceback.format_exc())
            return
        self.succeed(node, seconds, [response.replace, response.detour, response.addition])

    def submit(self, node: _Node) -> None:
        from mvflows.job_workers import job_pool, run_job

        job = node.job
        try:
            resolved = job.resolve_args(store=self.store, inplace=False) if job.config.resolve_references else job
            payload = resolved.as_dict()
        except Exception as exc:  # noqa: BLE001 - an unresolvable input fails this job only
            self.fail(node, exc, traceback.format_exc())
            return
        if self.pool is None:
            self.pool = job_pool(self.jobs)  # started when the first job needs it
        try:
            future = self.pool.submit(run_job, payload, str(self.job_dir(job)), list(self.store.additional_stores))
        except BrokenProcessPool:  # a worker died since the last job ended: new workers, same job
            self.pool.shutdown(wait=False, cancel_futures=True)
            self.pool = job_pool(self.jobs)
            future = self.pool.submit(run_job, payload, str(self.job_dir(job)), list(self.store.additional_stores))
        self.running[future] = (node, self.pool)

    def collect(self, future: Future) -> None:
        """Store what a worker's job produced, or record why it failed."""
        node, pool = self.running.pop(future)
        try:
            out = future.result()
        except BrokenProcessPool as exc:  # e.g. killed for memory: fails every job that pool had
            self.fail(node, RuntimeError(f"the worker process running this job died ({exc})"), "")
            if pool is self.pool:  # the next job starts new workers
                pool.shutdown(wait=False, cancel_futures=True)
                self.pool = None
            return
        except Exception as exc:  # noqa: BLE001 - the job's own error, raised in the worker
            self.fail(node, exc, "".join(traceback.format_exception(exc)))
            return
        for name, blobs in out["blobs"].items():  # blobs first: a doc must not outlive its data
            if blobs:
                self.store.additional_stores[name].update(blobs, key="blob_uuid")
        self.store.docs_store.update(out["docs"], key=["uuid", "index"])
        _drop_if_empty(self.job_dir(node.job))
        decoder = MontyDecoder()
        subs = [decoder.process_decoded(out[k]) if out[k] else None for k in ("replace", "detour", "addition")]
        self.succeed(node, out["seconds"], subs)


def _drop_if_empty(path: Path) -> None:
    if path.is_dir() and not any(path.iterdir()):
        path.rmdir()
