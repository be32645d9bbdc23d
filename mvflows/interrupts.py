"""Ctrl-C and SIGTERM during a run: raised as :class:`Interrupted`, never in the middle of a store write.

``mvflows run`` installs :func:`interruptible` for its whole life. The first SIGINT or
SIGTERM raises :class:`Interrupted` (a ``KeyboardInterrupt``, so jobs' ``except Exception``
does not swallow it) where the main thread is, unless a store write is under way
(:func:`deferred`, which every embedded-store write holds): then it is raised as the
write ends, so a document is either written whole or not at all. Later signals, while
the run stops its workers and says what it saved, are ignored.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator

SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Interrupted(KeyboardInterrupt):
    """The run was asked to stop by a signal; ``name`` is SIGINT or SIGTERM."""

    def __init__(self, signum: int = signal.SIGINT) -> None:
        self.signum = signum
        self.name = signal.Signals(signum).name
        super().__init__(self.name)


class _State:
    installed = False
    depth = 0  # store writes under way
    pending: int | None = None  # a signal that came during one
    fired = False  # Interrupted was raised: the run is stopping


_state = _State()


def _handler(signum: int, _frame: object) -> None:
    if _state.fired:
        return
    if _state.depth:
        _state.pending = signum
        return
    _state.fired = True
    raise Interrupted(signum)


@contextlib.contextmanager
def interruptible() -> Iterator[None]:
    """SIGINT and SIGTERM raise :class:`Interrupted` inside the block (main thread only)."""
    if _state.installed or threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {s: signal.getsignal(s) for s in SIGNALS}
    _state.installed, _state.fired, _state.pending, _state.depth = True, False, None, 0
    for s in SIGNALS:
        signal.signal(s, _handler)
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
        _state.installed = False


@contextlib.contextmanager
def deferred() -> Iterator[None]:
    """A signal that arrives inside the block is raised when the block ends, not within it."""
    _state.depth += 1
    try:
        yield
    finally:
        _state.depth -= 1
        if not _state.depth and _state.pending is not None and not _state.fired:
            signum, _state.pending, _state.fired = _state.pending, None, True
            raise Interrupted(signum)
