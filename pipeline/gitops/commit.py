"""Committing results back to the repository: stage train/results only, commit, push, rebase and retry.

A training run takes hours, so by the time it pushes, `main` has usually moved on (merged PRs,
another run's results). A rejected push is answered with `git pull --rebase` and another push,
a bounded number of times with a growing pause. History is never rewritten on the remote: no
force push, ever; a rebase conflict stops with a message and leaves the remote untouched.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from pipeline.core.git import GitError, git, git_output
from pipeline.core.naming import basename_of
from pipeline.core.retry import Backoff
from pipeline.evaluate.resume import SIDECAR_SUFFIX

# The identity GitHub's own bot commits with; used only when the checkout has none configured.
BOT_NAME = "github-actions[bot]"
BOT_EMAIL = "41898282+github-actions[bot]@users.noreply.github.com"

# What git (and GitHub) say when a push lost the race to another push; a rebase fixes these.
REMOTE_ADVANCED = (
    "(fetch first)",
    "(non-fast-forward)",
    "updates were rejected because the remote contains work",
    "updates were rejected because the tip of your current branch is behind",
    "cannot lock ref",
    "incorrect old value provided",
)


class GitOpsError(GitError):
    """Results could not be committed or pushed; the message says what git said and what to do."""


@dataclass(frozen=True)
class CommitOutcome:
    committed: bool
    sha: str = ""
    attempts: int = 0
    files: tuple[str, ...] = ()


def remote_advanced(push_stderr: str) -> bool:
    """Whether a failed push was rejected only because the remote branch moved on (as opposed to auth, network)."""
    text = push_stderr.lower()
    return any(marker in text for marker in REMOTE_ADVANCED)


# Pause after the n-th rejected push: 1, 2, 4, 8 s... capped at 30, so concurrent pushers spread out.
PUSH_BACKOFF = Backoff(first=1.0, cap=30.0)


def identity_args(name: str, email: str) -> list[str]:
    """`-c` options giving the commit an author when the checkout has no identity (CI runners have none)."""
    args = []
    if not name:
        args += ["-c", f"user.name={BOT_NAME}"]
    if not email:
        args += ["-c", f"user.email={BOT_EMAIL}"]
    return args


def default_message(files: Iterable[str]) -> str:
    """`Results for a-001, a-002`: the configs whose results changed, so `git log` reads as a run history."""
    names = sorted({basename_of(f).removesuffix(".json") for f in files if f.endswith(".json")})
    if not names:
        return "Update results index"
    shown = ", ".join(names[:10]) + (f" and {len(names) - 10} more" if len(names) > 10 else "")
    return f"Results for {shown}"


def _identity(root: Path) -> list[str]:
    """Identity options for commands that write commits (commit, and the rebase that rewrites ours)."""
    name, email = (git(root, "config", "--get", key).stdout.strip() for key in ("user.name", "user.email"))
    return identity_args(name, email)


def results_pathspec(results_path: str) -> list[str]:
    """The results folder less what is never a result: hidden files (an atomic write's `.<name>.*.tmp` that a
    kill -9 left behind) and a cut-off eval's progress sidecar, which travels between runs as an upload."""
    return [results_path, f":(exclude,glob){results_path}/**/.*", f":(exclude,glob){results_path}/**/*{SIDECAR_SUFFIX}"]


def commit(root: Path, results_path: str, message: str | None) -> CommitOutcome:
    """Stage and commit the results under results_path (and nothing else); no commit when nothing changed."""
    git_output(root, "add", "--all", "--", *results_pathspec(results_path))
    staged = git_output(root, "diff", "--cached", "--name-only", "--", results_path).splitlines()
    if not staged:
        return CommitOutcome(committed=False)
    # `commit -- PATH` commits only that path, even if something else happens to be staged.
    commit_message = message or default_message(staged)
    git_output(root, *_identity(root), "commit", "--quiet", "-m", commit_message, "--", results_path)
    return CommitOutcome(committed=True, sha=git_output(root, "rev-parse", "HEAD").strip(), files=tuple(staged))


def push_with_rebase(root: Path, remote: str, branch: str, attempts: int,
                     sleep: Callable[[float], None] = time.sleep) -> int:
    """Push HEAD to the remote branch, rebasing onto it after each rejection; returns the attempts it took."""
    for attempt in range(1, attempts + 1):
        pushed = git(root, "push", remote, f"HEAD:refs/heads/{branch}")
        if pushed.returncode == 0:
            return attempt
        stderr = pushed.stderr + pushed.stdout
        if not remote_advanced(stderr):
            raise GitOpsError(f"git push to {remote} {branch} failed (not a race; not retried):\n{stderr.strip()}")
        if attempt == attempts:
            break
        rebased = git(root, *_identity(root), "pull", "--rebase", "--autostash", "--quiet", remote, branch)
        if rebased.returncode != 0:
            git(root, "rebase", "--abort")
            raise GitOpsError(f"rebasing the results onto {remote}/{branch} failed; nothing was pushed. Resolve by "
                              f"hand (git pull --rebase {remote} {branch}), then push:\n{rebased.stderr.strip()}")
        sleep(PUSH_BACKOFF.delay(attempt))
    raise GitOpsError(f"{remote}/{branch} kept moving: push rejected {attempts} times. The results commit is still "
                      f"local; push it with `git pull --rebase {remote} {branch} && git push {remote} HEAD:{branch}`")


def commit_results(root: Path, results_path: str = "train/results", message: str | None = None,
                   remote: str = "origin", branch: str = "main", attempts: int = 5,
                   sleep: Callable[[float], None] = time.sleep) -> CommitOutcome:
    """Commit results_path and push it to remote/branch; the outcome says whether there was anything to commit."""
    if attempts < 1:
        raise ValueError("attempts must be at least 1")
    outcome = commit(root, results_path, message)
    if not outcome.committed:
        return outcome
    tries = push_with_rebase(root, remote, branch, attempts, sleep)
    return CommitOutcome(True, git_output(root, "rev-parse", "HEAD").strip(), tries, outcome.files)
