"""Run whole jobs in worker processes, one core each, so independent jobs share the machine.

A force-field job gains little from a second torch thread (SevenNet-0 on the 97-atom
spinel supercell: 1.25 s per call on one thread, 1.1 s on two), so two one-thread jobs
side by side do ~1.8x the work of one two-thread job. The runner
(:mod:`mvflows.execution.runner`) stays the only process that talks to the store: it resolves a job's
inputs, ships the resolved job here, and writes back the documents the job produced in a
throw-away in-memory store. Workers therefore never read a stale copy of the store, and
MongoDB and the embedded store behave alike. Like :mod:`mvflows.image_workers`, this
module imports nothing heavy at the top, because every spawned worker imports it.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

# Cores one job may use; read by image_workers.available_cores inside a worker.
JOB_CORES_ENV = "MVFLOWS_JOB_CORES"


def _worker_init(busy: Any = None, slots: int = 1) -> None:
    import signal
    import warnings

    from mvflows.image_workers import exit_with_parent, share_cores

    exit_with_parent()
    if busy is not None:
        share_cores(busy, slots)
    # a terminal's Ctrl-C reaches the whole process group: the run, not its workers, decides
    # what happens (it keeps what they finished and ends the rest, see runner.run_flow)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    os.environ[JOB_CORES_ENV] = "1"
    os.environ.setdefault("TQDM_DISABLE", "1")
    for category in (FutureWarning, DeprecationWarning, UserWarning):
        warnings.filterwarnings("ignore", category=category)
    import torch

    torch.set_num_threads(1)


class WorkerJobError(RuntimeError):
    """A job's error whose own class cannot be rebuilt in the runner: its type, message and traceback.

    An exception comes back from a worker pickled; one whose ``__init__`` takes more than its
    message (custodian's ValidationError, the error of every failed VASP job) does not
    unpickle, and the pool then breaks as if the worker had died.
    """

    def __init__(self, job_error_type: str, message: str, trace: str = "") -> None:
        super().__init__(message)
        self.job_error_type, self.message, self.trace = job_error_type, message, trace

    def __reduce__(self) -> tuple:
        return type(self), (self.job_error_type, self.message, self.trace)


def _returnable(exc: BaseException) -> BaseException:
    """``exc`` if it survives the trip back to the runner, else a WorkerJobError telling the same."""
    import pickle
    import traceback

    try:
        pickle.loads(pickle.dumps(exc))
        return exc
    except Exception:  # noqa: BLE001 - whatever stops it, the stand-in goes instead
        trace = "".join(traceback.format_exception(exc))
        return WorkerJobError(type(exc).__name__, str(exc), trace)


def run_job(job_dict: dict, job_dir: str, store_names: list[str]) -> dict[str, Any]:
    """Run one resolved job against an in-memory store; return what it stored and its response.

    Exceptions propagate to the scheduler, which records them as the job's failure (as a
    :class:`WorkerJobError` when they would not unpickle there).
    """
    from jobflow import Job, JobStore
    from maggma.stores import MemoryStore
    from monty.json import MontyDecoder

    from mvflows.image_workers import job_running

    job: Job = MontyDecoder().process_decoded(job_dict)
    store = JobStore(MemoryStore(), additional_stores={name: MemoryStore() for name in store_names})
    store.connect()
    path = Path(job_dir)
    path.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    with contextlib.chdir(path), job_running():
        try:
            response = job.run(store=store)
        except Exception as exc:
            returned = _returnable(exc)
            if returned is exc:
                raise
            raise returned from None
    seconds = time.perf_counter() - t0
    return {
        "seconds": seconds,
        "docs": _all_docs(store.docs_store),
        "blobs": {name: _all_docs(s) for name, s in store.additional_stores.items()},
        "replace": _as_dict(response.replace),
        "detour": _as_dict(response.detour),
        "addition": _as_dict(response.addition),
        "stored_data": response.stored_data,
        "stop_children": bool(response.stop_children),
        "stop_jobflow": bool(response.stop_jobflow),
    }


def _all_docs(store: Any) -> list[dict]:
    return [{k: v for k, v in doc.items() if k != "_id"} for doc in store.query({})]


def _as_dict(flow: Any) -> dict | None:
    return None if flow is None else flow.as_dict()


def job_pool(workers: int) -> ProcessPoolExecutor:
    """``workers`` spawned processes (forking a process that runs torch threads can hang).

    They share a count of the jobs running in them, so a NEB band may borrow the cores of
    empty slots (:func:`mvflows.image_workers.spare_cores`).
    """
    from mvflows.image_workers import _without_main_import

    ctx = multiprocessing.get_context("spawn")
    busy = ctx.Value("i", 0)
    pool = ProcessPoolExecutor(workers, mp_context=ctx, initializer=_worker_init, initargs=(busy, workers))
    with _without_main_import():  # start them now, while __main__ is hidden from the children
        for f in [pool.submit(os.getpid) for _ in range(workers)]:
            f.result()
    return pool
