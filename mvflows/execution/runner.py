"""Run a campaign's Flow on this machine: resumable, failure-isolating, N jobs at once.

jobflow's ``run_locally`` always recomputes everything, one job at a time. This runner
walks the same graph the same way (:mod:`mvflows.execution.scheduler`), but a job whose
content-keyed uuid already has a finished output in the store is reused, not run (see
:mod:`mvflows.keys`), and independent jobs can run side by side in worker processes
(:mod:`mvflows.execution.executors`). A job that raises is recorded and its dependants
are skipped unless they tolerate missing inputs (the pair result always runs).

Runs may share a store: each job is claimed before it runs (:mod:`mvflows.execution.claims`),
a job another live run has claimed waits while this run does other work, and once its
claim is free the store is read again, so a job that run finished is reused, not run twice.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from jobflow import Flow, Job, JobStore
from jobflow.core.flow import get_flow
from jobflow.core.reference import find_and_get_references

from mvflows.execution.claims import Claims
from mvflows.execution.executors import InProcess, Outcome, WorkerPool
from mvflows.execution.progress import Quiet, Reporter
from mvflows.execution.scheduler import Action, Node, Scheduler, StoredState
from mvflows.interrupts import deferred
from mvflows.store import refresh

# how often a run whose next jobs another run is computing looks again (s)
POLL_S = 1.0


@dataclass
class RunReport:
    """What a run did: jobs run, reused from the store, skipped, stopped, failed (name -> one-line error)."""

    ran: int = 0
    reused: int = 0
    skipped: int = 0
    stopped: int = 0
    failed: dict[str, str] = field(default_factory=dict)
    seconds: list[tuple[str, float]] = field(default_factory=list)  # (job name, wall s) of jobs run
    rebuilt: int = 0  # reused jobs whose published document was missing and was written again
    waited: int = 0  # jobs found claimed by another run
    total: int = 0  # jobs in the graph, sub-flows included
    interrupted: str = ""  # the signal that stopped the run (SIGINT, SIGTERM), if one did
    abandoned: list[str] = field(default_factory=list)  # jobs stopped unfinished by the interrupt


# set on the document of a job that ran while an input had failed (a job that tolerates
# missing inputs, e.g. an NEB summary or a pair result): its output stands until a re-run,
# which runs it again, and first the failed job, whose cause may be fixed by then
MISSING_INPUTS = "mvflows_missing_inputs"


def finished(store: JobStore, uuid: str, _seen: set[str] | None = None) -> bool:
    """True when the latest stored output of ``uuid`` exists, was computed from all its inputs,
    and so does, and was, all it points to.

    None marks a replaced job. A job replaced by a sub-flow (the insertion steps) ends with
    an output that is a reference to the sub-flow's last job; if that sub-flow failed, the
    reference dangles and the job must run again to rebuild it, or a re-run would reuse
    the job and every dependant would fail on the missing reference.
    """
    doc = store.query_one({"uuid": uuid}, properties=["output", "index", MISSING_INPUTS], sort={"index": -1})
    if doc is None or doc.get("output") is None or doc.get(MISSING_INPUTS):
        return False
    seen = _seen if _seen is not None else set()
    seen.add(uuid)
    return all(
        ref.uuid in seen or finished(store, ref.uuid, seen) for ref in find_and_get_references(doc["output"])
    )


def stored_state(store: JobStore, uuid: str) -> StoredState:
    """The scheduler's view of a job in the store, stop flags included (a resumed run honours them)."""
    doc = (
        store.query_one(
            {"uuid": uuid}, properties=["stop_children", "stop_jobflow", "completed_at"], sort={"index": -1}
        )
        or {}
    )
    flags = bool(doc.get("stop_children")), bool(doc.get("stop_jobflow"))
    return StoredState(finished(store, uuid), *flags, completed_at=str(doc.get("completed_at") or ""))


def _record_response(store: JobStore, job: Job, outcome: Outcome, missing_inputs: bool = False) -> None:
    """Keep what a re-run needs (stop flags, whether an input had failed) and any stored_data on
    the job's document."""
    extra = {
        k: v
        for k, v in (
            ("stop_children", outcome.stop_children),
            ("stop_jobflow", outcome.stop_jobflow),
            ("stored_data", outcome.stored_data),
            (MISSING_INPUTS, missing_inputs),
        )
        if v
    }
    if not extra:
        return
    doc = store.docs_store.query_one({"uuid": job.uuid}, sort={"index": -1})
    if doc is not None:
        doc.pop("_id", None)
        store.docs_store.update({**doc, **extra}, key=["uuid", "index"])


def run_flow(
    flow: Flow | Job,
    store: JobStore,
    work_dir: str | Path,
    fresh: bool = False,
    reporter: Reporter | None = None,
    jobs: int = 1,
    claims_dir: str | Path | None = None,
    after_reuse: Callable[[Job], bool] | None = None,
) -> RunReport:
    """Run ``flow`` against ``store``; reuse finished jobs unless ``fresh``.

    ``jobs`` > 1 runs up to that many independent jobs at once, each in a worker process
    with one core; jobs that read the store themselves (``expose_store``) and all jobs
    when ``jobs`` is 1 run in this process. On Ctrl-C or SIGTERM (``KeyboardInterrupt``)
    the run keeps what its workers finished, ends every job still running and all the
    processes they started, and returns with ``interrupted`` set: nothing of an unfinished
    job is stored, so the same run again continues. ``claims_dir`` holds the runs' claims on jobs
    (every run on one store must use the same; default ``<work_dir>/claims``).
    ``after_reuse(job)`` is called for each reused job; True counts it as rebuilt.
    """
    flow = get_flow(flow)
    work_dir = Path(work_dir).resolve()
    work_dir.mkdir(parents=True, exist_ok=True)
    store.connect()
    progress = reporter or Quiet()
    claims = Claims(Path(claims_dir).resolve() if claims_dir else work_dir / "claims")
    report = RunReport()
    told: set[str] = set()

    def claim(job: Job) -> bool:
        holder = claims.take(job.uuid)
        if holder is not None:
            if job.uuid not in told:
                told.add(job.uuid)
                report.waited += 1
                progress.note(f"waiting for {job.name}: another run ({holder}) is computing it")
            return False
        if job.uuid in claims.taken_over:
            progress.note(f"{job.name}: taking over from {claims.taken_over.pop(job.uuid)}, which ended")
        refresh(store)  # what other runs stored since (nothing to read when this run is alone)
        return True

    scheduler = Scheduler(
        lookup=lambda uuid: stored_state(store, uuid),
        runs_here=lambda job: bool(job.config.expose_store),
        slots=jobs,
        fresh=fresh,
        claim=claim,
        release=lambda job: claims.release(job.uuid),
    )
    scheduler.add(flow)
    here, pool = InProcess(store, work_dir), WorkerPool(store, work_dir, jobs)
    short: set[str] = set()  # jobs that ran without some input, or from such a job's output

    def settle(outcome: Outcome) -> None:
        node = outcome.node
        if outcome.error is not None:
            _fail(outcome, work_dir, report, progress)
            scheduler.failed(node)
            return
        missing = bool(scheduler.errored.intersection(node.parents) or short.intersection(node.parents))
        if missing:
            short.add(node.job.uuid)
        _record_response(store, node.job, outcome, missing)
        report.ran += 1
        report.seconds.append((node.job.name, outcome.seconds))
        before = scheduler.total
        scheduler.succeeded(node, outcome.sub_flows, outcome.stop_children, outcome.stop_jobflow)
        progress.grow(scheduler.total - before)
        progress.finish(node.job.name, "ran", outcome.seconds)
        if outcome.stop_jobflow:
            progress.note(f"{node.job.name} stopped the flow (stop_jobflow): no further job starts")

    progress.start(scheduler.total)
    started = datetime.now().isoformat()  # as jobflow times a stored output
    current: Node | None = None  # the job running in this process
    try:
        with contextlib.chdir(work_dir):
            while not scheduler.finished or pool.running:
                decision = scheduler.next(running=len(pool.running))
                if decision is None:
                    if pool.running:
                        ended = pool.wait(timeout=POLL_S if scheduler.waiting else None)
                        with deferred():  # a Ctrl-C now waits: each ended job is stored and counted
                            for future in ended:
                                settle(pool.collect(future))
                        scheduler.retry()
                        continue
                    if scheduler.waiting:  # every job left waits for another run
                        time.sleep(POLL_S)
                        scheduler.retry()
                        continue
                    if scheduler.stop_all:
                        break
                    raise RuntimeError(
                        f"{len(scheduler.pending)} jobs wait on each other: the flow has a cycle"
                    )
                node, action = decision.node, decision.action
                if action is Action.REUSE:
                    report.reused += 1
                    if after_reuse is not None and after_reuse(node.job):
                        report.rebuilt += 1
                    progress.finish(node.job.name, "reused")
                elif action is Action.SKIP:
                    report.skipped += 1
                    progress.finish(node.job.name, "skipped (an input failed)")
                elif action is Action.STOP:
                    report.stopped += 1
                    progress.finish(node.job.name, "stopped (a parent said stop_children)")
                elif action is Action.RUN_HERE:
                    progress.begin(node.job.name)
                    current = node
                    outcome = here.run(node)
                    current = None
                    settle(outcome)
                else:
                    progress.begin(node.job.name)
                    failed_early = pool.submit(node)
                    if failed_early is not None:
                        settle(failed_early)
    except KeyboardInterrupt as exc:  # mvflows.interrupts.Interrupted, or a plain Ctrl-C
        report.interrupted = getattr(exc, "name", "SIGINT")
        for outcome in pool.collect_finished():
            if outcome.error is None:
                settle(outcome)
        report.abandoned = [n.job.name for n in pool.abandon()]
        if current is not None:  # stopped, unless the signal came as it was storing its output
            state = stored_state(store, current.job.uuid)
            if state.finished and state.completed_at >= started:
                report.ran += 1
            else:
                report.abandoned.append(current.job.name)
    finally:
        report.total = scheduler.total
        pool.shutdown()
        claims.release_all()
        progress.close()
    return report


def _fail(outcome: Outcome, work_dir: Path, report: RunReport, progress: Reporter) -> None:
    job, exc = outcome.node.job, outcome.error
    # a worker's stand-in (WorkerJobError) names the original type
    kind = getattr(exc, "job_error_type", None) or type(exc).__name__
    message = (str(exc).strip().splitlines() or [kind])[0][:300]
    report.failed[f"{job.name} ({job.uuid})"] = f"{kind}: {message}"
    with (work_dir / "errors.log").open("a") as fh:
        fh.write(f"--- {job.name} ({job.uuid})\n{outcome.trace}\n")
    progress.finish(job.name, f"FAILED ({kind}: {message})")
