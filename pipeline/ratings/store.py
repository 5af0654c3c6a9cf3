"""Appending votes to a rater's file so that none is lost: one write per vote, fsynced before the page hears back.

The file is held with an advisory `flock` for as long as the server runs: a second `haha rate` for the same
rater stops at once instead of interleaving lines (the kernel drops the lock however the holder exits, so a
killed server leaves nothing stale). A new file's folder entry is fsynced too, so the file itself survives a
crash. A session that cast no vote leaves no empty file behind.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from pipeline.core.errors import HahaError
from pipeline.ratings.lines import RatingLine


class RaterBusy(HahaError):
    """Another `haha rate` holds this rater's file."""


class RatingsWriter:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        created = not path.exists()
        self.path = path
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(self._fd)
            raise RaterBusy(f"{path} is open in another `haha rate` for this rater: rate in that one's page, or stop "
                            "it first") from None
        if created:
            _fsync_folder(path.parent)

    def append(self, lines: list[RatingLine]) -> None:
        """All of a vote's lines in one write (O_APPEND: never interleaved with another writer), then fsync."""
        data = "".join(line.to_line() for line in lines).encode("utf-8")
        written = 0
        while written < len(data):
            written += os.write(self._fd, data[written:])
        os.fsync(self._fd)

    def close(self) -> None:
        if os.fstat(self._fd).st_size == 0:
            self.path.unlink(missing_ok=True)
        os.close(self._fd)


def _fsync_folder(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
