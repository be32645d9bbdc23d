"""Which run computes a job: one lock file per job uuid, so two runs on one store never run a job twice.

A run claims a job before it starts it and keeps the claim until the job and every job it
spawned are done and stored. A second run that reaches the job meanwhile finds it claimed,
works on other jobs, and comes back; once the claim is free it reads the store again and
reuses the output (:mod:`mvflows.execution.runner`). The claim is an exclusive ``flock``
on ``<uuid>.claim``, which the OS drops when its process ends however it ends, so the
claim of a killed run is taken over at once; the file names the holder (pid and host) for
the waiting run's message. Claim files stay (an empty one is a free claim): removing them
would let two processes lock two different files of one name.
"""

from __future__ import annotations

import fcntl
import os
import socket
import time
from pathlib import Path


class Claims:
    """The claims this process holds, in ``directory`` (next to the store it guards)."""

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory)
        self.held: dict[str, int] = {}  # uuid -> open, locked file descriptor
        self.taken_over: dict[str, str] = {}  # uuid -> the holder named by a claim its process left

    def take(self, uuid: str) -> str | None:
        """Claim ``uuid``: None when this process holds it now, else who does (e.g. ``pid 12 on node1``)."""
        if uuid in self.held:
            return None
        self.directory.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.directory / f"{uuid}.claim", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 200, 0).decode(errors="replace").strip()
            os.close(fd)
            return holder or "another process"
        left = os.pread(fd, 200, 0).decode(errors="replace").strip()
        if left:  # its holder ended without releasing it (killed)
            self.taken_over[uuid] = left
        os.ftruncate(fd, 0)
        me = f"pid {os.getpid()} on {socket.gethostname()} since {time.strftime('%H:%M:%S')}"
        os.pwrite(fd, me.encode(), 0)
        self.held[uuid] = fd
        return None

    def release(self, uuid: str) -> None:
        fd = self.held.pop(uuid, None)
        if fd is None:
            return
        try:
            os.ftruncate(fd, 0)
        finally:
            os.close(fd)  # drops the lock

    def release_all(self) -> None:
        for uuid in list(self.held):
            self.release(uuid)
