"""The in-process runner: reuse of finished jobs, failure isolation, no stale results."""

from pathlib import Path

from jobflow import Flow, JobConfig, JobStore, OnMissing, Response, job
from maggma.stores import MemoryStore

from mvflows.content_keys import keyed
from mvflows.runner import run_flow


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


def test_rerun_recomputes_a_result_written_while_its_parent_had_failed(tmp_path):
    flag = tmp_path / "crash"
    flag.touch()

    def build() -> Flow:  # each `mvflows run` builds the graph anew; content keys give the same uuids
        a = keyed(flaky(str(flag)))
        return Flow([a, keyed(summary(a.output))])

    b = build().jobs[1]
    store = JobStore(MemoryStore())
    first = run_flow(build(), store, tmp_path / "w", show_progress=False)
    assert len(first.failed) == 1 and first.ran == 1
    assert store.query_one({"uuid": b.uuid})["output"] == {"value": None}
    flag.unlink()  # the cause is fixed; rerunning continues where it stopped
    second = run_flow(build(), store, tmp_path / "w", show_progress=False)
    assert second.failed == {} and second.ran == 2 and second.reused == 0
    assert store.query_one({"uuid": b.uuid}, sort={"index": -1})["output"] == {"value": 42}
    third = run_flow(build(), store, tmp_path / "w", show_progress=False)
    assert third.ran == 0 and third.reused == 2


@job
def grow(flag: str) -> Response:
    """Replaces itself by a sub-flow, as an insertion step does; the sub-flow's job may crash."""
    inner = keyed(flaky(flag))
    return Response(replace=Flow([inner], output=inner.output))


def test_rerun_rebuilds_a_replaced_job_whose_sub_flow_had_failed(tmp_path):
    flag = tmp_path / "crash"
    flag.touch()

    def build() -> Flow:
        g = keyed(grow(str(flag)))
        return Flow([g, keyed(summary(g.output))])

    b = build().jobs[1]
    store = JobStore(MemoryStore())
    first = run_flow(build(), store, tmp_path / "w", show_progress=False)
    assert len(first.failed) == 1  # the sub-flow's job
    flag.unlink()
    second = run_flow(build(), store, tmp_path / "w", show_progress=False)
    assert second.failed == {}
    assert store.query_one({"uuid": b.uuid}, sort={"index": -1})["output"] == {"value": 42}
    third = run_flow(build(), store, tmp_path / "w", show_progress=False)
    assert third.ran == 0 and third.failed == {}
