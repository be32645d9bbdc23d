"""The runner with real jobs and stores: reuse of finished jobs, failure isolation, workers, stop flags."""

import os
import time
from pathlib import Path

import pytest
from jobflow import Flow, JobConfig, JobStore, OnMissing, Response, job
from maggma.stores import MemoryStore

from mvflows.execution import run_flow
from mvflows.keys import keyed


@job
def flaky(flag: str) -> int:
    """Fails while the flag file exists (a crashed upstream job)."""
    if Path(flag).exists():
        raise RuntimeError("upstream crashed")
    return 42


@job(config=JobConfig(on_missing_references=OnMissing.NONE))
def summary(value: int | None) -> dict:
    """Like the pair result: always runs, records what it got."""
    return {"value": value}


# every behaviour holds for the in-process runner and for jobs run in worker processes
JOBS = pytest.mark.parametrize("jobs", [1, 2], ids=["in-process", "2-workers"])


@JOBS
def test_rerun_recomputes_a_result_written_while_its_parent_had_failed(tmp_path, jobs):
    flag = tmp_path / "crash"
    flag.touch()

    def build() -> Flow:  # each `mvflows run` builds the graph anew; content keys give the same uuids
        a = keyed(flaky(str(flag)))
        return Flow([a, keyed(summary(a.output))])

    b = build().jobs[1]
    store = JobStore(MemoryStore())
    first = run_flow(build(), store, tmp_path / "w", jobs=jobs)
    assert len(first.failed) == 1 and first.ran == 1
    assert store.query_one({"uuid": b.uuid})["output"] == {"value": None}
    flag.unlink()  # the cause is fixed; rerunning continues where it stopped
    second = run_flow(build(), store, tmp_path / "w", jobs=jobs)
    assert second.failed == {} and second.ran == 2 and second.reused == 0
    assert store.query_one({"uuid": b.uuid}, sort={"index": -1})["output"] == {"value": 42}
    third = run_flow(build(), store, tmp_path / "w", jobs=jobs)
    assert third.ran == 0 and third.reused == 2


@job
def grow(flag: str) -> Response:
    """Replaces itself by a sub-flow, as an insertion step does; the sub-flow's job may crash."""
    inner = keyed(flaky(flag))
    return Response(replace=Flow([inner], output=inner.output))


@JOBS
def test_rerun_rebuilds_a_replaced_job_whose_sub_flow_had_failed(tmp_path, jobs):
    flag = tmp_path / "crash"
    flag.touch()

    def build() -> Flow:
        g = keyed(grow(str(flag)))
        return Flow([g, keyed(summary(g.output))])

    b = build().jobs[1]
    store = JobStore(MemoryStore())
    first = run_flow(build(), store, tmp_path / "w", jobs=jobs)
    assert len(first.failed) == 1  # the sub-flow's job
    flag.unlink()
    second = run_flow(build(), store, tmp_path / "w", jobs=jobs)
    assert second.failed == {}
    assert store.query_one({"uuid": b.uuid}, sort={"index": -1})["output"] == {"value": 42}
    third = run_flow(build(), store, tmp_path / "w", jobs=jobs)
    assert third.ran == 0 and third.failed == {}


@job
def absorb(flag: str) -> Response:
    """Replaced by a crashing job and a tolerant one that absorbs the crash, as a NEB and its summary."""
    inner = keyed(flaky(flag))
    told = keyed(summary(inner.output))
    return Response(replace=Flow([inner, told], output=told.output))


@pytest.mark.parametrize("jobs", [1], ids=["in-process"])  # workers: tests/test_fake_vasp.py's NEB
def test_rerun_retries_a_failed_job_whose_dependant_tolerated_it(tmp_path, jobs):
    """The sub-flow's last output exists, but was computed without its input: a re-run runs both again."""
    flag = tmp_path / "crash"
    flag.touch()

    def build() -> Flow:
        g = keyed(absorb(str(flag)))
        return Flow([g, keyed(summary(g.output))])

    top = build().jobs[1]
    store = JobStore(MemoryStore())
    first = run_flow(build(), store, tmp_path / "w", jobs=jobs)
    assert len(first.failed) == 1
    assert store.query_one({"uuid": top.uuid})["output"] == {"value": {"value": None}}
    flag.unlink()
    second = run_flow(build(), store, tmp_path / "w", jobs=jobs)
    assert second.failed == {} and second.reused == 0
    assert store.query_one({"uuid": top.uuid}, sort={"index": -1})["output"] == {"value": {"value": 42}}
    third = run_flow(build(), store, tmp_path / "w", jobs=jobs)
    assert third.ran == 0 and third.reused == 2


class VaspLikeError(Exception):
    """Like custodian's errors: more than a message to __init__, so it does not unpickle."""

    def __init__(self, message: str, raises: bool, handler: object) -> None:
        super().__init__(message)
        self.raises, self.handler = raises, handler


@job
def crash_like_custodian() -> int:
    raise VaspLikeError("Validation failed: VasprunXMLValidator", True, None)


def test_a_worker_job_error_that_does_not_unpickle_still_names_itself(tmp_path):
    bad, fine = keyed(crash_like_custodian()), keyed(flaky(str(tmp_path / "no-flag")))
    store = JobStore(MemoryStore())
    report = run_flow(Flow([bad, fine]), store, tmp_path / "w", jobs=2)
    assert report.ran == 1  # the pool survived: the other job ran
    assert list(report.failed.values()) == ["VaspLikeError: Validation failed: VasprunXMLValidator"]
    assert "VaspLikeError" in (tmp_path / "w" / "errors.log").read_text()  # with its traceback


@job
def stamp(seconds: float) -> dict:
    """Sleeps, and says in which process and when it ran."""
    t0 = time.time()
    time.sleep(seconds)
    return {"pid": os.getpid(), "start": t0, "end": time.time()}


@job
def spread(a: dict, b: dict) -> list:
    return sorted([a["pid"], b["pid"]])


def test_independent_jobs_run_side_by_side_in_workers(tmp_path):
    a, b = keyed(stamp(1.5)), keyed(stamp(1.5))
    b.function_args = (1.6,)  # a different job (content keys would merge equal ones)
    b = keyed(b)
    store = JobStore(MemoryStore())
    report = run_flow(Flow([a, b, keyed(spread(a.output, b.output))]), store, tmp_path / "w", jobs=2)
    assert report.failed == {} and report.ran == 3
    out_a, out_b = (store.query_one({"uuid": j.uuid})["output"] for j in (a, b))
    assert os.getpid() not in (out_a["pid"], out_b["pid"])  # computed in workers, stored by the runner
    assert out_a["pid"] != out_b["pid"]
    assert out_a["start"] < out_b["end"] and out_b["start"] < out_a["end"]  # they overlapped


@job
def die() -> int:
    os._exit(3)  # a worker killed outright, e.g. by the out-of-memory killer


def test_a_worker_that_dies_fails_its_job_and_the_run_goes_on(tmp_path):
    dead, fine = keyed(die()), keyed(flaky(str(tmp_path / "no-flag")))
    store = JobStore(MemoryStore())
    report = run_flow(Flow([dead, keyed(summary(dead.output)), fine]), store, tmp_path / "w", jobs=2)
    assert len(report.failed) >= 1
    assert any("died" in m for m in report.failed.values())
    again = run_flow(Flow([keyed(flaky(str(tmp_path / "no-flag")))]), store, tmp_path / "w", jobs=2)
    assert again.failed == {} and again.ran + again.reused == 1


@job
def halt(children: bool, everything: bool) -> Response:
    """Asks, as an atomate2 VASP job does for an unconverged run, to stop what follows."""
    return Response(output=1, stop_children=children, stop_jobflow=everything)


@JOBS
def test_stop_children_is_honoured_and_remembered_on_resume(tmp_path, jobs):
    def build() -> Flow:
        a = keyed(halt(True, False))
        return Flow([a, keyed(summary(a.output)), keyed(flaky(str(tmp_path / "no-flag")))])

    store = JobStore(MemoryStore())
    first = run_flow(build(), store, tmp_path / "w", jobs=jobs)
    assert first.ran == 2 and first.stopped == 1  # the child of the halting job never ran, the other job did
    child = build().jobs[1]
    assert store.query_one({"uuid": child.uuid}) is None
    again = run_flow(build(), store, tmp_path / "w", jobs=jobs)
    assert again.reused == 2 and again.stopped == 1 and again.ran == 0


def test_stop_jobflow_starts_nothing_after_it(tmp_path):
    a = keyed(halt(False, True))
    later = keyed(flaky(str(tmp_path / "no-flag")))
    report = run_flow(Flow([a, keyed(summary(a.output)), later]), JobStore(MemoryStore()), tmp_path / "w")
    assert report.ran == 1 and report.failed == {}


def test_ctrl_c_as_a_worker_job_is_stored_counts_what_was_stored(tmp_path):
    """A Ctrl-C that lands just after a worker job's documents are written still counts that job."""
    import signal

    from mvflows.interrupts import interruptible

    class SignalAfterFirstWrite(MemoryStore):
        sent = False

        def update(self, docs, key=None):
            super().update(docs, key=key)
            if not SignalAfterFirstWrite.sent:
                SignalAfterFirstWrite.sent = True
                os.kill(os.getpid(), signal.SIGINT)  # as a terminal's Ctrl-C, right after the write

    a = keyed(flaky(str(tmp_path / "no-flag")))
    store = JobStore(SignalAfterFirstWrite())
    with interruptible():
        report = run_flow(Flow([a, keyed(summary(a.output))]), store, tmp_path / "w", jobs=2)
    assert report.interrupted == "SIGINT"
    stored = store.docs_store.count({})
    assert stored == 1 and report.ran == stored  # the job whose output is stored is counted
