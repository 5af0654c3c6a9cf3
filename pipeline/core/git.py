"""Running git: the one subprocess boundary that change detection and the commit-back share."""

from __future__ import annotations

import subprocess
from pathlib import Path

from pipeline.core.errors import HahaError


class GitError(HahaError):
    """A git command failed; the message carries the command and git's own words."""


def git(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run git in `root`, never raising: callers that expect failures read the result."""
    return subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, check=False)


def git_output(root: Path, *args: str) -> str:
    result = git(root, *args)
    if result.returncode != 0:
        raise GitError(f"git {' '.join(args)} failed:\n{(result.stderr or result.stdout).strip()}")
    return result.stdout
