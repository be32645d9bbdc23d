"""Where a job runs: in this process, or in a pool of one-core worker processes.

Both give back an :class:`Outcome` (what the job's Response asked for, or why it failed);
the runner hands it to the scheduler. Every job runs in a folder of its own under the
work directory (VASP jobs write files there; force-field jobs leave none, and an empty
folder is removed). Only this process writes to the store: a worker's job runs against
an in-memory store whose documents come back here (:mod:`mvflows.execution.workers`).
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
import traceback
from concurrent.futures import FIRST_COMPLETED, Future, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jobflow import Flow, Job, JobStore
from monty.json import MontyDecoder

from mvflows.execution.scheduler import Node


@dataclass
class Outcome:
    """A job's run: its sub-flows and stop flags, or the error it raised."""

    node: Node
    seconds: float = 0.0
    sub_flows: list[Flow | None] = field(default_factory=list)
    stop_children: bool = False
    stop_jobflow: bool = False
    stored_data: Any = None
    error: BaseException | None = None
    trace: str = ""


def job_dir(work_dir: Path, job: Job) -> Path:
    return work_dir / f"job_{job.uuid}_{job.index}"


def fresh_job_dir(work_dir: Path, job: Job) -> Path:
    """The job's folder, empty: files of an earlier attempt (a failed job run again) move aside.

    atomate2's VASP jobs write into whatever folder they run in, and its NEB job cannot
    create image folders that exist; the earlier attempt's files stay, as ``<folder>.previous-N``.
    """
    path = job_dir(work_dir, job)
    if path.is_dir() and any(path.iterdir()):
        n = 1
        while path.with_name(f"{path.name}.previous-{n}").exists():
            n += 1
        path.rename(path.with_name(f"{path.name}.previous-{n}"))
    return path


def _drop_if_empty(path: Path) -> None:
    if path.is_dir() and not any(path.iterdir()):
        path.rmdir()


class InProcess:
    """Runs a job here, against the run's store."""

    def __init__(self, store: JobStore, work_dir: Path) -> None:
        self.store, self.work_dir = store, work_dir

    def run(self, node: Node) -> Outcome:
        try:
            path = fresh_job_dir(self.work_dir, node.job)
            path.mkdir(parents=True, exist_ok=True)
            t0 = time.perf_counter()
            with contextlib.chdir(path):
                response = node.job.run(store=self.store)
            seconds = time.perf_counter() - t0
            _drop_if_empty(path)
        except Exception as exc:  # noqa: BLE001 - any job failure is isolated and reported
            return Outcome(node, error=exc, trace=traceback.format_exc())
        return Outcome(
            node,
            seconds,
            [response.replace, response.detour, response.addition],
            bool(response.stop_children),
            bool(response.stop_jobflow),
            response.stored_data,
        )


class WorkerPool:
    """Up to ``workers`` jobs at once, each in a spawned one-core process with its own model copy.

    A worker that dies (e.g. killed for memory) fails the jobs its pool had; the next job
    starts new workers, so the run goes on.
    """

    def __init__(self, store: JobStore, work_dir: Path, workers: int) -> None:
        self.store, self.work_dir, self.workers = store, work_dir, workers
        self.running: dict[Future, tuple[Node, Any]] = {}  # -> (job, the pool running it)
        self._pool: Any = None

    def submit(self, node: Node) -> Outcome | None:
        """Start the job in a worker; an Outcome only when it fails before it starts."""
        from mvflows.execution.workers import job_pool, run_job

        job = node.job
        try:
            resolved = (
                job.resolve_args(store=self.store, inplace=False) if job.config.resolve_references else job
            )
            payload = resolved.as_dict()
            path = fresh_job_dir(self.work_dir, job)
        except Exception as exc:  # noqa: BLE001 - an unresolvable input fails this job only
            return Outcome(node, error=exc, trace=traceback.format_exc())
        args = (payload, str(path), list(self.store.additional_stores))
        if self._pool is None:
            self._pool = job_pool(self.workers)  # started when the first job needs it
        try:
            future = self._pool.submit(run_job, *args)
        except BrokenProcessPool:  # a worker died since the last job ended: new workers, same job
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = job_pool(self.workers)
            future = self._pool.submit(run_job, *args)
        self.running[future] = (node, self._pool)
        return None

    def wait(self, timeout: float | None = None) -> list[Future]:
        """Block until at least one running job ends (or ``timeout`` s pass); the ended jobs' futures.

        Waiting is where a Ctrl-C lands; :meth:`collect` stores what a job produced, which the
        caller does with signals deferred, so a job is either stored and counted or neither.
        """
        finished, _ = wait(list(self.running), timeout=timeout, return_when=FIRST_COMPLETED)
        return list(finished)

    def collect(self, future: Future) -> Outcome:
        """Store what the job of an ended ``future`` produced; its outcome."""
        node, pool = self.running.pop(future)
        try:
            out = future.result()
        except BrokenProcessPool as exc:  # e.g. killed for memory: fails every job that pool had
            if pool is self._pool:  # the next job starts new workers
                pool.shutdown(wait=False, cancel_futures=True)
                self._pool = None
            return Outcome(node, error=RuntimeError(f"the worker process running this job died ({exc})"))
        except Exception as exc:  # noqa: BLE001 - the job's own error, raised in the worker
            trace = getattr(exc, "trace", "") or "".join(traceback.format_exception(exc))
            return Outcome(node, error=exc, trace=trace)
        for name, blobs in out["blobs"].items():  # blobs first: a doc must not outlive its data
            if blobs:
                self.store.additional_stores[name].update(blobs, key="blob_uuid")
        self.store.docs_store.update(out["docs"], key=["uuid", "index"])
        _drop_if_empty(job_dir(self.work_dir, node.job))
        decoder = MontyDecoder()
        subs = [
            decoder.process_decoded(out[k]) if out[k] else None for k in ("replace", "detour", "addition")
        ]
        return Outcome(
            node, out["seconds"], subs, out["stop_children"], out["stop_jobflow"], out["stored_data"]
        )

    def collect_finished(self) -> list[Outcome]:
        """The outcomes of jobs that have ended, without waiting for the others (an interrupted run
        keeps what its workers finished)."""
        return [self.collect(f) for f in [f for f in self.running if f.done()]]

    def abandon(self) -> list[Node]:
        """Stop every running job now, storing nothing of it: the workers, and all that this
        process started, are ended (:func:`stop_descendants`)."""
        left = [node for node, _pool in self.running.values()]
        self.running.clear()
        stop_descendants()
        if self._pool is not None:  # its workers are gone: this only joins its threads and queues
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
        return left

    def shutdown(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None


def stop_descendants(grace_s: float = 5.0) -> int:
    """SIGTERM every process this one started, and theirs, then SIGKILL those still there after
    ``grace_s``; returns how many there were.

    Worker processes, the NEB's image workers and VASP (which custodian starts in a session
    of its own, out of reach of a terminal's Ctrl-C) all end with the run that started them.
    multiprocessing's resource tracker is left to end by itself.
    """
    from multiprocessing import resource_tracker

    keep = {getattr(resource_tracker._resource_tracker, "_pid", None)}
    pids = [p for p in _descendants(os.getpid()) if p not in keep]
    found = len(pids)
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in pids:
            with contextlib.suppress(OSError):
                os.kill(pid, sig)
        deadline = time.monotonic() + grace_s
        while sig == signal.SIGTERM and time.monotonic() < deadline and any(map(_alive, pids)):
            time.sleep(0.1)
        pids = [p for p in pids if _alive(p)]
    return found


def _descendants(root: int) -> list[int]:
    """Every process below ``root`` (from /proc; none where there is no /proc)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            ppid = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(stat.parent.name))
    out, todo = [], [root]
    while todo:
        for kid in children.get(todo.pop(), []):
            out.append(kid)
            todo.append(kid)
    return out


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"
