"""Which job of a Flow runs next: pure scheduling, no store, no processes, no clock.

The scheduler walks a jobflow graph as jobflow's ``run_locally`` does (a job waits for
its parents; replace, detour and addition sub-flows run before the job's dependants and
ahead of later pairs; ``on_missing_references``; ``stop_children``; ``stop_jobflow``) and
adds what a resumable screen needs: a job whose content-keyed uuid already has a finished
output is reused instead of run, unless an input was recomputed in this run or after the
output was stored; and what runs sharing a store need: a job is claimed before it runs,
and one claimed by another run waits (its dependants with it) while other jobs go on.
:mod:`mvflows.execution.runner` feeds it outcomes and carries out its decisions.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass, field

import networkx as nx
from jobflow import Flow, Job
from jobflow.core.reference import OnMissing


class Action(enum.Enum):
    RUN_HERE = "run here"  # in the scheduling process (it reads the store itself, or one job at a time)
    SUBMIT = "submit"  # to a worker process
    REUSE = "reuse"  # a finished output is stored
    SKIP = "skip"  # a parent failed and the job cannot do without its output
    STOP = "stop"  # a parent asked to stop its children (Response.stop_children)


@dataclass(eq=False)
class Node:
    """One job to run; ``group`` is the job whose response created it (replace/detour/addition)."""

    job: Job
    parents: list[str]
    group: Node | None = None
    outstanding: int = 0  # jobs of this job's sub-flows not yet done
    reusable: bool | None = None  # decided once, when its parents are done


@dataclass
class Decision:
    node: Node
    action: Action


@dataclass
class StoredState:
    """What the store knows of a job: finished (and everything its output points to), and its stop flags."""

    finished: bool = False
    stop_children: bool = False
    stop_jobflow: bool = False
    completed_at: str = ""  # when the stored output was written (ISO time)


_LATEST = "\uffff"  # the time of an output just computed whose stored time is unknown: newer than any


def ordered(flow: Flow) -> list[tuple[Job, list[str]]]:
    """Topological order that finishes one pair before starting the next (creation order)."""
    jobs: dict[str, Job] = {}
    position: dict[str, int] = {}
    for i, job in enumerate(_all_jobs(flow)):
        jobs.setdefault(job.uuid, job)  # a job shared by pairs (same content) counts where first used
        position.setdefault(job.uuid, i)
    graph = flow.graph
    order = nx.lexicographical_topological_sort(graph, key=lambda u: position.get(u, len(position)))
    return [(jobs[u], list(graph.predecessors(u))) for u in order if u in jobs]


def _all_jobs(flow: Flow) -> list[Job]:
    out: list[Job] = []
    for item in flow.jobs:
        out += _all_jobs(item) if isinstance(item, Flow) else [item]
    return out


@dataclass
class Scheduler:
    """The state of one run: which jobs wait, which are done, failed, or stopped.

    ``lookup(uuid)`` tells what the store holds of a job; ``runs_here(job)`` whether a job
    must run in the scheduling process; ``slots`` is how many jobs may run at once.
    ``claim(job)`` is asked before a job is run: False when another run is computing it
    (the job waits until :meth:`retry`); True when this run may, after which the store is
    asked again whether the job is finished, for another run may have finished it.
    ``release(job)`` is told when the job and all it spawned are done.
    """

    lookup: Callable[[str], StoredState]
    runs_here: Callable[[Job], bool] = lambda _job: True
    slots: int = 1
    fresh: bool = False
    claim: Callable[[Job], bool] = lambda _job: True
    release: Callable[[Job], None] = lambda _job: None
    pending: list[Node] = field(default_factory=list)
    done: set[str] = field(default_factory=set)  # uuids whose job and sub-flows have all finished (or failed)
    errored: set[str] = field(default_factory=set)
    stopped: set[str] = field(default_factory=set)
    ran_now: set[str] = field(default_factory=set)  # computed in this run: their dependants cannot be reused
    known: set[str] = field(default_factory=set)  # every job of this run, to tell inputs from outside it
    stop_all: bool = False  # a job returned stop_jobflow
    total: int = 0
    waiting: set[str] = field(default_factory=set)  # claimed by another run: not tried until retry()
    completed: dict[str, str] = field(default_factory=dict)  # job done -> when its output was stored

    def add(self, flow: Flow, group: Node | None = None) -> int:
        """Queue a flow's jobs (a sub-flow before every job queued earlier); returns how many."""
        nodes = [Node(job, parents, group) for job, parents in ordered(flow)]
        self.known.update(n.job.uuid for n in nodes)
        self.total += len(nodes)
        if group is None:
            self.pending += nodes
        else:
            group.outstanding += len(nodes)
            self.pending[:0] = nodes
        return len(nodes)

    @property
    def finished(self) -> bool:
        return not self.pending

    def next(self, running: int) -> Decision | None:
        """The first job in order that can start, be reused, skipped or stopped now, or None.

        ``running`` counts jobs now in worker processes; a job for a worker waits while
        every slot is taken. After ``stop_jobflow`` nothing starts any more.
        """
        if self.stop_all:
            return None
        for i, node in enumerate(self.pending):
            if node.job.uuid in self.waiting:
                continue
            if any(p in self.known and p not in self.done for p in node.parents):
                continue
            action = self._action(node)
            if action is Action.SUBMIT and running >= self.slots:
                continue
            if action in (Action.RUN_HERE, Action.SUBMIT):
                if not self.claim(node.job):
                    self.waiting.add(node.job.uuid)
                    continue
                if self._reusable(node):  # another run stored it meanwhile
                    node.reusable, action = True, Action.REUSE
            del self.pending[i]
            if action in (Action.SKIP, Action.STOP):
                (self.errored if action is Action.SKIP else self.stopped).add(node.job.uuid)
                self._close(node)
            elif action is Action.REUSE:
                state = self.lookup(node.job.uuid)
                self.completed[node.job.uuid] = state.completed_at
                self._flags(node, state.stop_children, state.stop_jobflow)
                self._close(node)
            return Decision(node, action)
        return None

    def retry(self) -> None:
        """Try the jobs claimed by another run again (their claim may be free now)."""
        self.waiting.clear()

    def _action(self, node: Node) -> Action:
        job = node.job
        if self.stopped.intersection(node.parents):
            return Action.STOP
        if self.errored.intersection(node.parents) and job.config.on_missing_references == OnMissing.ERROR:
            return Action.SKIP
        if node.reusable is None:
            node.reusable = self._reusable(node)
        if node.reusable:
            return Action.REUSE
        return Action.RUN_HERE if self.slots <= 1 or self.runs_here(job) else Action.SUBMIT

    def _reusable(self, node: Node) -> bool:
        """A stored output is stale when an input was stored after it: recomputed in this run
        (e.g. a pair result written while a parent had failed, before that parent was rerun),
        or by another run, or by a run killed before it got to this job. An output another
        run computed from an input this run stored is not stale."""
        if self.fresh:
            return False
        state = self.lookup(node.job.uuid)
        if not state.finished:
            return False
        if not state.completed_at:  # no time to compare: any input recomputed now makes it stale
            return not self.ran_now.intersection(node.parents)
        newest_input = max((self.completed.get(p, "") for p in node.parents), default="")
        return state.completed_at >= newest_input

    def succeeded(
        self,
        node: Node,
        sub_flows: list[Flow | None],
        stop_children: bool = False,
        stop_jobflow: bool = False,
    ) -> None:
        """A job ran: queue the sub-flows it returned; its dependants wait for them."""
        self.ran_now.add(node.job.uuid)
        self.completed[node.job.uuid] = self.lookup(node.job.uuid).completed_at or _LATEST
        for sub in reversed([s for s in sub_flows if s is not None]):
            self.add(sub, node)
        self._flags(node, stop_children, stop_jobflow)
        if node.outstanding == 0:
            self._close(node)

    def failed(self, node: Node) -> None:
        self.errored.add(node.job.uuid)
        self._close(node)

    def _flags(self, node: Node, stop_children: bool, stop_jobflow: bool) -> None:
        if stop_children:
            self.stopped.add(node.job.uuid)
        if stop_jobflow:
            self.stop_all = True

    def _close(self, node: Node) -> None:
        """The job and everything it spawned are done: release its dependants (and its claim)."""
        self.done.add(node.job.uuid)
        self.release(node.job)
        group = node.group
        if group is not None:
            group.outstanding -= 1
            if group.outstanding == 0:
                self._close(group)
