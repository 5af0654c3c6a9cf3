"""One `haha run` or `haha train` per workspace at a time: two would train into the same run folders.

An advisory `flock` on `<workspace>/.haha.lock`: the kernel releases it when the holder exits,
however it exits, so a killed run never leaves a stale lock. The file names the holder, so the
second run can say who is in the way.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from pipeline.core.errors import HahaError

LOCK_FILE = ".haha.lock"


class WorkspaceLocked(HahaError):
    """Another haha process holds the workspace; the message names it."""


def holder_text(path: Path) -> str:
    try:
        holder = json.loads(path.read_text(encoding="utf-8"))
        return (f"pid {holder['pid']} on {holder['host']} since {holder['started']}: {holder['command']}")
    except (OSError, ValueError, KeyError, TypeError):
        return "a process that has not said who it is yet"


@contextmanager
def workspace_lock(workspace: Path) -> Iterator[None]:
    """Hold the workspace for the duration of the block, or raise WorkspaceLocked at once."""
    workspace.mkdir(parents=True, exist_ok=True)
    path = workspace / LOCK_FILE
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise WorkspaceLocked(f"another haha run is using {workspace} ({holder_text(path)}); wait for it to "
                                  "finish, or give this one its own --workspace") from None
        os.ftruncate(fd, 0)
        os.write(fd, json.dumps({"pid": os.getpid(), "host": socket.gethostname(),
                                 "started": datetime.now(UTC).isoformat(timespec="seconds"),
                                 "command": " ".join(sys.argv)}).encode())
        yield
    finally:
        os.close(fd)  # closing releases the lock
