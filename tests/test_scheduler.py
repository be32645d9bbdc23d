"""The scheduler alone: order, reuse, failures, sub-flows and stop flags, without store or processes."""

from jobflow import Flow, JobConfig, OnMissing, job

from mvflows.execution.scheduler import Action, Scheduler, StoredState
from mvflows.keys import keyed


@job
def step(x: int) -> int:
    return x


@job(config=JobConfig(on_missing_references=OnMissing.NONE))
def tolerant(x: int | None) -> int:
    return 0


def _chain():
    a = keyed(step(1))
    b = keyed(step(a.output))
    c = keyed(tolerant(b.output))
    return a, b, c, Flow([a, b, c])


def _drain(s, outcome=lambda d: "ok"):
    """Run the scheduler to the end, answering every RUN_HERE decision with ``outcome``."""
    seen = []
    while not s.finished:
        d = s.next(running=0)
        assert d is not None, "nothing can start although jobs wait"
        seen.append((d.node.job.uuid, d.action))
        if d.action in (Action.RUN_HERE, Action.SUBMIT):
            result = outcome(d)
            if result == "fail":
                s.failed(d.node)
            else:
                s.succeeded(
                    d.node,
                    result if isinstance(result, list) else [],
                    stop_children=result == "stop children",
                )
    return seen


def test_parents_first_and_everything_runs_once():
    a, b, c, flow = _chain()
    s = Scheduler(lookup=lambda u: StoredState())
    s.add(flow)
    assert [u for u, _ in _drain(s)] == [a.uuid, b.uuid, c.uuid]


def test_finished_jobs_are_reused_but_not_after_their_input_was_recomputed():
    a, b, c, flow = _chain()
    stored = {b.uuid, c.uuid}  # a's output is missing (lost), b and c are stored
    s = Scheduler(lookup=lambda u: StoredState(finished=u in stored))
    s.add(flow)
    actions = dict(_drain(s))
    assert actions == {a.uuid: Action.RUN_HERE, b.uuid: Action.RUN_HERE, c.uuid: Action.RUN_HERE}
    s = Scheduler(lookup=lambda u: StoredState(finished=True))
    s.add(flow)
    assert {act for _u, act in _drain(s)} == {Action.REUSE}
    s = Scheduler(lookup=lambda u: StoredState(finished=True), fresh=True)
    s.add(flow)
    assert {act for _u, act in _drain(s)} == {Action.RUN_HERE}


def test_a_failure_skips_dependants_that_need_it_and_not_those_that_tolerate_it():
    a, b, c, flow = _chain()
    s = Scheduler(lookup=lambda u: StoredState())
    s.add(flow)
    actions = dict(_drain(s, lambda d: "fail" if d.node.job.uuid == a.uuid else "ok"))
    assert actions[b.uuid] is Action.SKIP and actions[c.uuid] is Action.RUN_HERE  # like the pair result


def test_a_sub_flow_runs_before_the_dependants_of_its_job():
    a, b, c, flow = _chain()
    inner = keyed(step(5))
    s = Scheduler(lookup=lambda u: StoredState())
    s.add(flow)
    order = [u for u, _ in _drain(s, lambda d: [Flow([inner])] if d.node.job.uuid == a.uuid else "ok")]
    assert order == [a.uuid, inner.uuid, b.uuid, c.uuid]


def test_stop_children_stops_the_descendants_even_tolerant_ones():
    a, b, c, flow = _chain()
    s = Scheduler(lookup=lambda u: StoredState())
    s.add(flow)
    actions = dict(_drain(s, lambda d: "stop children" if d.node.job.uuid == a.uuid else "ok"))
    assert actions[b.uuid] is Action.STOP and actions[c.uuid] is Action.STOP
    # a reused job that had asked to stop its children still stops them
    s = Scheduler(lookup=lambda u: StoredState(finished=u == a.uuid, stop_children=u == a.uuid))
    s.add(flow)
    actions = dict(_drain(s))
    assert actions[a.uuid] is Action.REUSE and actions[b.uuid] is Action.STOP


def test_stop_jobflow_stops_every_later_start():
    _a, _b, _c, flow = _chain()
    s = Scheduler(lookup=lambda u: StoredState())
    s.add(flow)
    d = s.next(running=0)
    s.succeeded(d.node, [], stop_jobflow=True)
    assert s.next(running=0) is None and s.stop_all


def test_worker_jobs_wait_for_a_free_slot_and_store_readers_run_here():
    x, y = keyed(step(1)), keyed(step(2))
    s = Scheduler(lookup=lambda u: StoredState(), slots=2, runs_here=lambda job: job.uuid == y.uuid)
    s.add(Flow([x, y]))
    first = s.next(running=0)
    assert first.node.job.uuid == x.uuid and first.action is Action.SUBMIT
    assert s.next(running=2).node.job.uuid == y.uuid  # runs here although both slots are taken
    assert s.next(running=2) is None


def test_a_job_claimed_by_another_run_waits_and_is_reused_once_that_run_stored_it():
    a, b, _c, flow = _chain()
    stored: set[str] = set()
    busy = {a.uuid}  # another run computes a
    claimed, released = [], []

    def claim(job):
        if job.uuid in busy:
            return False
        claimed.append(job.uuid)
        return True

    s = Scheduler(
        lookup=lambda u: StoredState(finished=u in stored),
        claim=claim,
        release=lambda j: released.append(j.uuid),
    )
    s.add(flow)
    assert s.next(running=0) is None and s.waiting == {a.uuid}  # b and c wait for a
    s.retry()
    assert s.next(running=0) is None  # still claimed
    busy.clear()
    stored.add(a.uuid)  # the other run stored a, then released its claim
    s.retry()
    d = s.next(running=0)
    assert (d.node.job.uuid, d.action) == (a.uuid, Action.REUSE)
    assert [d.action for d in [s.next(running=0)]] == [Action.RUN_HERE]  # b: this run's now
    assert claimed == [a.uuid, b.uuid] and released == [a.uuid]


def test_an_output_stored_before_its_input_was_is_recomputed():
    """A job whose input was stored after it (by another run, or a run killed in between) is stale."""
    a, b, c, flow = _chain()
    when = {a.uuid: "2026-01-02T00:00:00", b.uuid: "2026-01-01T00:00:00", c.uuid: "2026-01-03T00:00:00"}
    s = Scheduler(lookup=lambda u: StoredState(finished=True, completed_at=when[u]))
    s.add(flow)

    def run(d):  # the job's new output is stored now
        when[d.node.job.uuid] = "2026-02-01T00:00:00"
        return "ok"

    assert dict(_drain(s, run)) == {a.uuid: Action.REUSE, b.uuid: Action.RUN_HERE, c.uuid: Action.RUN_HERE}
    # an output stored after its input (by another run, from this run's input) is not stale
    s = Scheduler(lookup=lambda u: StoredState(finished=u != a.uuid, completed_at=when[u]))
    s.add(flow)
    when[b.uuid] = "2026-03-01T00:00:00"
    assert dict(_drain(s, run)) == {a.uuid: Action.RUN_HERE, b.uuid: Action.REUSE, c.uuid: Action.RUN_HERE}
