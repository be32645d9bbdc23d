"""A NEB band borrows the cores of empty job slots (mvflows.image_workers), with unchanged results."""

import multiprocessing

import numpy as np
import pytest
from pymatgen.io.ase import AseAtomsAdaptor

from mvflows import image_workers
from mvflows.image_workers import ImageEvaluator, job_running, share_cores, spare_cores
from mvflows.models import resolve_model
from mvflows.structures import charged_spinel


@pytest.fixture
def shared(monkeypatch):
    monkeypatch.setattr(image_workers, "_SHARED_CORES", None)
    busy = multiprocessing.get_context("spawn").Value("i", 0)
    share_cores(busy, 2)
    return busy


def test_empty_slots_are_counted_while_jobs_run(shared):
    assert spare_cores() == 2
    with job_running():
        assert spare_cores() == 1 and shared.value == 1
        with job_running():
            assert spare_cores() == 0
    assert spare_cores() == 2 and shared.value == 0


def test_outside_a_job_pool_nothing_is_spare(monkeypatch):
    monkeypatch.setattr(image_workers, "_SHARED_CORES", None)
    with job_running():
        assert spare_cores() == 0


def test_a_band_step_on_borrowed_cores_gives_the_same_energies_and_forces(shared, monkeypatch):
    monkeypatch.setattr(image_workers, "machine_cores", lambda: 2)
    mlff, kwargs = resolve_model("chgnet-0.2.0")
    base = AseAtomsAdaptor.get_atoms(charged_spinel("Cr"))
    rng = np.random.default_rng(0)
    images = []
    for _ in range(3):
        a = base.copy()
        a.positions += rng.normal(0.0, 0.02, a.positions.shape)
        images.append(a)
    alone = ImageEvaluator(mlff, kwargs, workers=1, borrow=True)
    with job_running(), job_running():  # both slots taken: nothing to borrow
        own = alone(images)
    assert alone.borrowed_calls == 0
    with job_running():  # the other slot is empty: a second worker takes its core
        borrowed = alone(images)
    assert alone.borrowed_calls == 3 and alone.calls == 6
    for (e1, f1), (e2, f2) in zip(own, borrowed, strict=True):
        assert e2 == pytest.approx(e1, abs=1e-5)
        assert np.allclose(f1, f2, atol=1e-4)
    polite = ImageEvaluator(mlff, kwargs, workers=1)
    with job_running():
        polite(images)
    assert polite.borrowed_calls == 0


def test_the_job_workers_of_a_run_share_the_count(tmp_path):
    from jobflow import Job

    from mvflows.execution.workers import job_pool, run_job

    pool = job_pool(2)
    try:
        assert pool.submit(spare_cores).result() == 2  # no job running
        job = Job(spare_cores)  # a job that reports what it sees while it runs
        out = pool.submit(run_job, job.as_dict(), str(tmp_path / "job"), []).result()
        (doc,) = out["docs"]
        assert doc["output"] == 1  # itself in one slot, the other empty
        assert pool.submit(spare_cores).result() == 2
    finally:
        pool.shutdown()


def test_a_job_worker_that_borrowed_cores_still_exits(tmp_path):
    """The image workers a band started inside a job worker must not keep it from exiting."""
    import threading

    from mvflows.execution.executors import stop_descendants
    from mvflows.execution.workers import job_pool

    mlff, kwargs = resolve_model("chgnet-0.2.0")
    images = [AseAtomsAdaptor.get_atoms(charged_spinel("Cr")) for _ in range(2)]
    pool = job_pool(1)
    assert len(pool.submit(ImageEvaluator(mlff, kwargs, workers=2), images).result()) == 2
    closing = threading.Thread(target=pool.shutdown, daemon=True)
    closing.start()
    closing.join(timeout=60)
    hung = closing.is_alive()
    if hung:
        stop_descendants()
    assert not hung, "the job worker hung on exit, joining its image workers"
