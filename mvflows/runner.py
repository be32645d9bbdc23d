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
    report = RunReport()
    errored: set[str] = set()
    ran_now: set[str] = set()  # computed in this run: their dependants cannot be reused
    done: set[str] = set()  # uuids whose job and sub-flows have all finished (or failed)
    pending: list[_Node] = []
    known: set[str] = set()  # uuids of every job of this run, to tell inputs from outside it
    running: dict[Future, _Node] = {}
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
    store_names = list(store.additional_stores)
    pool = None

    def enqueue(f: Flow, group: _Node | None, front: bool) -> None:
        nodes = [_Node(job, parents, group) for job, parents in _ordered(f)]
        known.update(n.job.uuid for n in nodes)
        if group is not None:
            group.outstanding += len(nodes)
            progress.update(task, total=progress.tasks[0].total + len(nodes))
        pending[:0 if front else len(pending)] = nodes  # a sub-flow runs before later pairs

    def close(node: _Node) -> None:
        """The job and everything it spawned are done: release its dependants."""
        done.add(node.job.uuid)
        group = node.group
        if group is not None:
            group.outstanding -= 1
            if group.outstanding == 0:
                close(group)

    def fail(node: _Node, exc: BaseException, trace: str) -> None:
        job = node.job
        errored.add(job.uuid)
        message = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
        report.failed[f"{job.name} ({job.uuid})"] = f"{type(exc).__name__}: {message}"
        with error_log.open("a") as fh:
            fh.write(f"--- {job.name} ({job.uuid})\n{trace}\n")
        progress.console.print(f"[red]job failed:[/red] {job.name}: {type(exc).__name__}: {message}")
        progress.advance(task)
        close(node)

    def succeed(node: _Node, seconds: float, sub_flows: list) -> None:
        report.seconds.append((node.job.name, seconds))
        report.ran += 1
        ran_now.add(node.job.uuid)
        progress.advance(task)
        for sub in reversed([s for s in sub_flows if s is not None]):
            enqueue(get_flow(sub), node, front=True)
        if node.outstanding == 0:
            close(node)

    def job_dir_of(job: Job) -> Path:
        # every job in a folder of its own (VASP jobs write files; force-field jobs leave none)
        return work_dir / f"job_{job.uuid}_{job.index}"

    def drop_if_empty(path: Path) -> None:
        if path.is_dir() and not any(path.iterdir()):
            path.rmdir()

    def run_here(node: _Node) -> None:
        job = node.job
        path = job_dir_of(job)
        try:
            path.mkdir(parents=True, exist_ok=True)
            t0 = time.perf_counter()
            with contextlib.chdir(path):
                response = job.run(store=store)
            seconds = time.perf_counter() - t0
            drop_if_empty(path)
        except Exception as exc:  # noqa: BLE001 - any job failure is isolated and reported
            fail(node, exc, traceback.format_exc())
            return
        succeed(node, seconds, [response.replace, response.detour, response.addition])

    def submit(node: _Node) -> None:
        from mvflows.job_workers import job_pool, run_job

        nonlocal pool
        job = node.job
        try:
            if pool is None:
                pool = job_pool(jobs)  # started when the first job needs it
            resolved = job.resolve_args(store=store, inplace=False) if job.config.resolve_references else job
            future = pool.submit(run_job, resolved.as_dict(), str(job_dir_of(job)), store_names)
        except Exception as exc:  # noqa: BLE001 - an unresolvable input fails this job only
            fail(node, exc, traceback.format_exc())
            return
        running[future] = node

    def collect(future: Future) -> bool:
        """Store a finished worker job's documents; False when the worker process died."""
        node = running.pop(future)
        try:
            out = future.result()
        except BrokenProcessPool as exc:
            fail(node, RuntimeError(f"the worker process running this job died ({exc})"), "")
            return False
        except Exception as exc:  # noqa: BLE001 - the job's own error, raised in the worker
            fail(node, exc, "".join(traceback.format_exception(exc)))
            return True
        for name, blobs in out["blobs"].items():  # blobs first: a doc must not outlive its data
            if blobs:
                store.additional_stores[name].update(blobs, key="blob_uuid")
        store.docs_store.update(out["docs"], key=["uuid", "index"])
        drop_if_empty(job_dir_of(node.job))
        decoder = MontyDecoder()
        subs = [decoder.process_decoded(out[k]) if out[k] else None for k in ("replace", "detour", "addition")]
        succeed(node, out["seconds"], subs)
        return True

    def start_ready() -> bool:
        """Start, reuse or skip the first ready job in order; False when none can start now."""
        for i, node in enumerate(pending):
            if any(p in known and p not in done for p in node.parents):
                continue
            job = node.job
            skip = errored.intersection(node.parents) and job.config.on_missing_references == OnMissing.ERROR
            if node.reusable is None:
                # a stored output is stale when an input was recomputed now (e.g. a pair
                # result written while a parent had failed, before that parent was rerun)
                node.reusable = bool(
                    not skip and not fresh and not ran_now.intersection(node.parents) and finished(store, job.uuid)
                )
            reuse = node.reusable
            here = jobs <= 1 or job.config.expose_store
            if not (skip or reuse or here) and len(running) >= jobs:
                continue
            del pending[i]
            progress.update(task, description=job.name[:44])
            if skip:
                errored.add(job.uuid)
                report.skipped += 1
                progress.advance(task)
                close(node)
            elif reuse:
                report.reused += 1
                progress.advance(task)
                close(node)
            elif here:
                run_here(node)
            else:
                submit(node)
            return True
        return False

    enqueue(flow, None, front=False)
    with progress, contextlib.chdir(work_dir):
        try:
            while pending or running:
                if start_ready():
                    continue
                if not running:
                    raise RuntimeError(f"{len(pending)} jobs wait on each other: the flow has a cycle")
                finished_now, _ = wait(list(running), return_when=FIRST_COMPLETED)
                alive = all([collect(f) for f in finished_now])
                if not alive:  # a worker died (e.g. killed for memory): the others' jobs failed too
                    for f in list(running):
                        collect(f)
                    pool.shutdown(wait=False, cancel_futures=True)
                    pool = None
        finally:
            if pool is not None:
                pool.shutdown(wait=True, cancel_futures=True)
        progress.update(task, description="done")
    return report
