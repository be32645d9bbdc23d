"""Run a campaign's Flow in this process, with a progress bar over jobs."""

from __future__ import annotations

import logging
import os
from pathlib import Path

from jobflow import Flow, JobStore, run_locally
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn


class _JobProgress(logging.Handler):
    """Turn jobflow's 'Starting job' / 'Finished job' log lines into a progress bar."""

    def __init__(self, progress: Progress, task: int, total: int) -> None:
        super().__init__(level=logging.INFO)
        self.progress, self.task, self.total = progress, task, total
        self.seen: set[str] = set()
        self.failed = 0

    def emit(self, record: logging.LogRecord) -> None:
        msg = record.getMessage()
        if msg.startswith("Starting job - "):
            name, uuid = _parse(msg)
            if uuid not in self.seen:
                self.seen.add(uuid)
                if len(self.seen) > self.total:
                    self.total = len(self.seen)
                    self.progress.update(self.task, total=self.total)
            self.progress.update(self.task, description=name[:48])
        elif msg.startswith("Finished job - "):
            self.progress.advance(self.task)
        elif " failed with exception" in msg:
            self.failed += 1
            self.progress.console.print(f"[red]job failed:[/red] {msg.splitlines()[0]}")
            self.progress.advance(self.task)


def _parse(msg: str) -> tuple[str, str]:
    body = msg.split(" - ", 1)[1]
    name, _, rest = body.rpartition(" (")
    return name, rest.rstrip(")").split(",")[0]


def run_flow(flow: Flow, store: JobStore, work_dir: str | Path, show_progress: bool = True) -> int:
    """Run ``flow`` locally against ``store``; return the number of jobs that raised."""
    work_dir = Path(work_dir)
    work_dir.mkdir(parents=True, exist_ok=True)
    total = len(flow.all_uuids) if hasattr(flow, "all_uuids") else len(flow.jobs)
    loggers = [logging.getLogger("jobflow.core.job"), logging.getLogger("jobflow.managers.local")]
    with Progress(
        TextColumn("{task.description:<48}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        disable=not show_progress or os.environ.get("MVFLOWS_NO_PROGRESS") == "1",
        transient=False,
    ) as progress:
        task = progress.add_task("jobs", total=total)
        handler = _JobProgress(progress, task, total)
        old = [(lg, lg.level, lg.propagate) for lg in loggers]
        for lg in loggers:
            lg.addHandler(handler)
            lg.setLevel(logging.INFO)
            lg.propagate = False
        try:
            run_locally(flow, store=store, root_dir=work_dir, log=False)
        finally:
            for lg, level, prop in old:
                lg.removeHandler(handler)
                lg.setLevel(level)
                lg.propagate = prop
        progress.update(task, description="done", total=handler.total, completed=handler.total)
    return handler.failed
