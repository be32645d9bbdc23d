"""Progress of a run: a live bar on a terminal, one line per finished job in a log, or nothing.

A campaign runs for many minutes; when its output goes to a file (``make run > log``,
a batch job) a live bar prints nothing useful, so each finished job gets a line: time,
job, state, seconds, done/total and an estimate of the time left.
"""

from __future__ import annotations

import sys
import time
from typing import Literal, Protocol

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

Mode = Literal["auto", "bar", "lines", "quiet"]


class Reporter(Protocol):
    """What the runner tells about its jobs."""

    def start(self, total: int) -> None: ...

    def grow(self, added: int) -> None: ...

    def begin(self, name: str) -> None: ...

    def finish(self, name: str, state: str, seconds: float | None = None) -> None: ...

    def note(self, message: str) -> None: ...

    def close(self) -> None: ...


class Quiet:
    """Says nothing (``--quiet``, tests)."""

    def start(self, total: int) -> None: ...

    def grow(self, added: int) -> None: ...

    def begin(self, name: str) -> None: ...

    def finish(self, name: str, state: str, seconds: float | None = None) -> None: ...

    def note(self, message: str) -> None: ...

    def close(self) -> None: ...


class Lines:
    """One line per finished job: ``12:03:41 run relax Cr2S4 (21.4 s) 12/244, ~18 min left``.

    The estimate divides the compute seconds of the jobs run so far by the slots and
    scales by the jobs left; reused jobs are instantaneous and do not enter it.
    """

    def __init__(self, console: Console, slots: int = 1) -> None:
        self.console, self.slots = console, max(slots, 1)
        self.total = self.done = self.ran = 0
        self.compute = 0.0

    def start(self, total: int) -> None:
        self.total = total

    def grow(self, added: int) -> None:
        self.total += added

    def begin(self, name: str) -> None: ...

    def finish(self, name: str, state: str, seconds: float | None = None) -> None:
        self.done += 1
        took = ""
        if seconds is not None:
            self.ran += 1
            self.compute += seconds
            took = f" ({seconds:.1f} s)"
        left = ""
        if self.ran and self.done < self.total:
            remaining = self.compute / self.ran * (self.total - self.done) / self.slots
            left = f", ~{_duration(remaining)} left"
        stamp = time.strftime("%H:%M:%S")
        self.console.print(
            f"{stamp} {state} {name}{took} {self.done}/{self.total}{left}", highlight=False, soft_wrap=True
        )

    def note(self, message: str) -> None:
        self.console.print(message, highlight=False, soft_wrap=True)

    def close(self) -> None: ...


class Bar:
    """rich's live bar over jobs, for a terminal."""

    def __init__(self, console: Console) -> None:
        self._bar = Progress(
            TextColumn("{task.description:<44}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
        )
        self._task = self._bar.add_task("jobs", total=0)

    def start(self, total: int) -> None:
        self._bar.update(self._task, total=total)
        self._bar.start()

    def grow(self, added: int) -> None:
        self._bar.update(self._task, total=(self._bar.tasks[0].total or 0) + added)

    def begin(self, name: str) -> None:
        self._bar.update(self._task, description=name[:44])

    def finish(self, name: str, state: str, seconds: float | None = None) -> None:  # noqa: ARG002
        if state.startswith("FAILED"):
            self._bar.console.print(
                f"[red]job failed:[/red] {name}: {state.removeprefix('FAILED ')}",
                highlight=False,
                soft_wrap=True,
            )
        self._bar.advance(self._task)

    def note(self, message: str) -> None:
        self._bar.console.print(message, highlight=False, soft_wrap=True)

    def close(self) -> None:
        self._bar.update(self._task, description="done")
        self._bar.stop()


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def reporter(mode: Mode, console: Console, slots: int = 1) -> Reporter:
    """The reporter for ``mode``; ``auto`` is the bar when stdout and stderr are terminals, else lines."""
    if mode == "auto":
        mode = "bar" if sys.stdout.isatty() and console.is_terminal else "lines"
    if mode == "quiet":
        return Quiet()
    return Bar(console) if mode == "bar" else Lines(console, slots)
