"""What git knows about the results files: when each was last committed.

The index dates an old-format results file (no `meta.finished`) by its commit, never by the
file's modification time, which a fresh checkout resets: rebuilding the index anywhere gives
the same bytes.
"""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime
from pathlib import Path

from pipeline.core.git import GitError, git_output

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


def adding_commits(root: Path, folder: Path) -> dict[str, str]:
    """The commit that first added each file in `folder`, by file name; empty outside a git checkout."""
    return _commits_by_name(root, folder, "A", oldest=True)


def changing_commits(root: Path, folder: Path) -> dict[str, str]:
    """The commit that last added or changed each file in `folder`, by file name (for a config, the commit that
    made it pending); empty outside a git checkout."""
    return _commits_by_name(root, folder, "AMR", oldest=False)


def _commits_by_name(root: Path, folder: Path, diff_filter: str, oldest: bool) -> dict[str, str]:
    try:
        relative = folder.resolve().relative_to(root.resolve())
        output = git_output(root, "log", f"--diff-filter={diff_filter}", "--format=%x00%H", "--name-only", "--",
                            str(relative))
    except (ValueError, GitError, OSError):
        return {}
    found: dict[str, str] = {}
    commit = ""
    for line in output.splitlines():  # newest first
        if line.startswith(COMMIT_MARK):
            commit = line[1:]
        elif line.strip() and commit:
            if oldest:
                found[Path(line).name] = commit
            else:
                found.setdefault(Path(line).name, commit)
    return found


def files_at(root: Path, wanted: dict[str, tuple[str, str]]) -> dict[str, str]:
    """`{key: text}` for each `{key: (commit, path)}` that exists at that commit, read by one `git cat-file`."""
    if not wanted:
        return {}
    keys = list(wanted)
    request = "".join(f"{wanted[key][0]}:{wanted[key][1]}\n" for key in keys).encode()
    try:
        done = subprocess.run(["git", "cat-file", "--batch"], cwd=root, input=request, capture_output=True,
                              check=True)
    except (subprocess.CalledProcessError, OSError):
        return {}
    found: dict[str, str] = {}
    data, offset = done.stdout, 0
    for key in keys:
        end = data.index(b"\n", offset)
        header = data[offset:end].split()
        offset = end + 1
        if len(header) == 3 and header[1] == b"blob":
            size = int(header[2])
            found[key] = data[offset:offset + size].decode("utf-8", errors="replace")
            offset += size + 1
    return found
