"""Energies and forces of many structures at once, over worker processes that keep the model.

One SevenNet-0 call on the 97-atom spinel supercell costs ~1.1 s with two torch threads
and ~1.25 s with one on a 2-core CPU, and a batched call over 7 images is slower per
image (2.0 s), so images go to single-threaded workers, one per core. Workers are spawned
(forking a process that runs torch's thread pool can hang) and load the model once. This
module imports nothing heavy: every worker imports it, and a spawned worker would
otherwise also import the parent's ``__main__`` (the CLI or a benchmark, with atomate2
behind it), which is why :func:`_pool` starts them without it.
"""

from __future__ import annotations

import contextlib
import functools
import json
import multiprocessing
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from ase import Atoms

Evaluate = Callable[[Sequence[Atoms]], list[tuple[float, np.ndarray]]]


def available_cores() -> int:
    """Cores this process may use (SLURM's cpus_per_task shows up as the affinity mask).

    A job run by :mod:`mvflows.execution.workers` next to others gets the one core it was given.
    """
    if os.environ.get("MVFLOWS_JOB_CORES", "").isdigit():
        return max(int(os.environ["MVFLOWS_JOB_CORES"]), 1)
    return machine_cores()


_WORKER_CALC: Any = None

# (count of jobs running, job slots) shared by the job workers of one `mvflows run`
_SHARED_CORES: tuple[Any, int] | None = None


def share_cores(busy: Any, slots: int) -> None:
    """Called in each job worker: ``busy`` (a shared ``multiprocessing.Value``) counts running jobs."""
    global _SHARED_CORES
    _SHARED_CORES = (busy, slots)


@contextlib.contextmanager
def job_running() -> Iterator[None]:
    """Count this job as running in the shared count while it runs (nothing outside a job pool)."""
    if _SHARED_CORES is None:
        yield
        return
    busy = _SHARED_CORES[0]
    with busy.get_lock():
        busy.value += 1
    try:
        yield
    finally:
        with busy.get_lock():
            busy.value -= 1


def spare_cores() -> int:
    """Job slots of this run that stand empty now (0 outside `mvflows run`'s job workers).

    A run with two slots ends with one long NEB band running alone, and waits on bands
    while a pair's other jobs are done: a band that takes the empty slot's core for its
    next step finishes sooner and keeps nothing waiting (a job started into that slot
    meanwhile shares the core for at most that step).
    """
    if _SHARED_CORES is None:
        return 0
    busy, slots = _SHARED_CORES
    return max(slots - int(busy.value), 0)


def machine_cores() -> int:
    """Cores of this process's affinity mask, whatever share a job was given."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def _load_calculator(meta: str, kwargs: dict) -> Any:
    from mvflows.models import load_calculator

    return load_calculator(meta, kwargs)


def exit_with_parent() -> None:
    """End this worker when the process that started it is gone (e.g. ``kill -9`` of a run).

    A pool worker waits on its task queue forever otherwise, holding its model in memory.
    """
    import threading
    import time

    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(1)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


def _worker_init(meta: str, kwargs_json: str) -> None:
    exit_with_parent()
    import torch

    torch.set_num_threads(1)
    global _WORKER_CALC
    _WORKER_CALC = _load_calculator(meta, json.loads(kwargs_json))


def _worker_ready() -> bool:
    return _WORKER_CALC is not None


def _worker_eval(payload: list[tuple[np.ndarray, np.ndarray, np.ndarray]]) -> list[tuple[float, np.ndarray]]:
    out = []
    for numbers, positions, cell in payload:
        atoms = Atoms(numbers=numbers, positions=positions, cell=cell, pbc=True)
        atoms.calc = _WORKER_CALC
        out.append((float(atoms.get_potential_energy()), np.array(atoms.get_forces())))
    return out


@contextlib.contextmanager
def _without_main_import() -> Iterator[None]:
    """Spawned children skip importing the parent's ``__main__`` (measured: ~5 s each).

    multiprocessing re-imports the main module in a spawned child only so that objects
    defined there can be unpickled; the workers run functions of this module alone.
    """
    main = sys.modules["__main__"]
    saved = {k: getattr(main, k) for k in ("__spec__", "__file__") if hasattr(main, k)}
    try:
        main.__spec__ = None
        if hasattr(main, "__file__"):
            del main.__file__
        yield
    finally:
        for k, v in saved.items():
            setattr(main, k, v)


@functools.lru_cache(maxsize=2)
def _pool(meta: str, kwargs_json: str, workers: int) -> ProcessPoolExecutor:
    """A started pool, every worker with its model loaded (kept for the life of the process)."""
    ctx = multiprocessing.get_context("spawn")
    pool = ProcessPoolExecutor(
        workers, mp_context=ctx, initializer=_worker_init, initargs=(meta, kwargs_json)
    )
    with _without_main_import():
        ready = [pool.submit(_worker_ready) for _ in range(workers)]  # one process per submit
    for f in ready:
        f.result()
    # A job worker of `mvflows run` that made this pool joins its children when it exits,
    # before atexit would shut the pool down: without this it waits on them for ever.
    from multiprocessing.util import Finalize

    Finalize(pool, pool.shutdown, kwargs={"wait": True, "cancel_futures": True}, exitpriority=10)
    return pool


@dataclass
class ImageEvaluator:
    """Energies and forces of many structures with one force field, over ``workers`` processes.

    ``workers=1`` evaluates in this process with the shared cached calculator. ``borrow``:
    each call also uses the cores of the run's empty job slots (:func:`spare_cores`), up to
    the machine's; the results do not depend on how many workers computed them.
    """

    meta: str
    calculator_kwargs: dict = field(default_factory=dict)
    workers: int = 1
    borrow: bool = False
    calls: int = 0  # structures evaluated (force calls)
    borrowed_calls: int = 0  # of which with borrowed cores

    def _workers_now(self, n: int) -> int:
        workers = self.workers
        if self.borrow:
            extra = min(spare_cores(), max(machine_cores() - workers, 0))
            if extra and n > workers:
                self.borrowed_calls += n
                workers += extra
        return min(workers, n)

    def __call__(self, structures: Sequence[Atoms]) -> list[tuple[float, np.ndarray]]:
        self.calls += len(structures)
        workers = self._workers_now(len(structures))
        if workers <= 1:
            from mvflows.models import cached_calculator

            calc = cached_calculator(self.meta, **self.calculator_kwargs)
            results = []
            for a in structures:
                b = a.copy()
                b.calc = calc
                results.append((float(b.get_potential_energy()), np.array(b.get_forces())))
            return results
        pool = _pool(self.meta, json.dumps(self.calculator_kwargs, sort_keys=True, default=str), workers)
        payload = [(a.numbers, a.positions, np.array(a.cell)) for a in structures]
        chunks = [payload[i::workers] for i in range(workers)]  # round robin
        parts = list(pool.map(_worker_eval, chunks))
        results: list[Any] = [None] * len(structures)
        for w, part in enumerate(parts):
            for j, res in enumerate(part):
                results[w + j * workers] = res
        return results
