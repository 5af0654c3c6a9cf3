"""What git knows about the results files: when each was last committed.

The index dates an old-format results file (no `meta.finished`) by its commit, never by the
file's modification time, which a fresh checkout resets: rebuilding the index anywhere gives
the same bytes.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from pipeline.gitops.git import GitError, git_output

COMMIT_MARK = "\x00"


def parse_log(output: str) -> dict[str, datetime]:
    """`git log --format=<NUL><unix time> --name-only` output, newest first: each file name's latest commit time."""
    times: dict[str, datetime] = {}
    current: datetime | None = None
    for line in output.splitlines():
        if line.startswith(COMMIT_MARK):
            current = datetime.fromtimestamp(int(line[1:]), UTC)
        elif line.strip() and current is not None:
            times.setdefault(Path(line).name, current)
    return times


def commit_times(root: Path, folder: Path) -> dict[str, datetime]:
    """The last commit time of every file git has seen in `folder`, by file name; empty outside a git checkout."""
    try:
        relative = folder.resolve().relative_to(root.resolve())
        output = git_output(root, "log", "--format=%x00%ct", "--name-only", "--", str(relative))
    except (ValueError, GitError, OSError):
        return {}
    return parse_log(output)
