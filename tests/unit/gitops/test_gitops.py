"""Committing results back: real git, a bare remote that moves on while the runner works, no force pushes.

The remote refuses non-fast-forward pushes (as a protected branch does), and every git command the
code runs is recorded, so a force push would fail twice over.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

import pipeline.core.git
from pipeline.cli.main import app
from pipeline.gitops import commit as gitops
from pipeline.gitops.commit import (
    BOT_NAME,
    PUSH_BACKOFF,
    GitOpsError,
    commit_results,
    default_message,
    identity_args,
    remote_advanced,
)

RESULTS = "train/results/fam-001.json"


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True, text=True).stdout.strip()


def write(repo: Path, relative: str, text: str) -> None:
    path = repo / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def push_change(clone: Path, relative: str, text: str, message: str) -> str:
    """Another person's push: commit one file in `clone` (which has an identity) and push it."""
    write(clone, relative, text)
    git(clone, "add", relative)
    git(clone, "commit", "-q", "-m", message)
    git(clone, "push", "-q", "origin", "HEAD:main")
    return git(clone, "rev-parse", "HEAD")


class Repos:
    def __init__(self, tmp_path: Path) -> None:
        self.remote = tmp_path / "remote.git"
        self.runner = tmp_path / "runner"
        self.colleague = tmp_path / "colleague"


@pytest.fixture
def repos(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Repos:
    """A bare remote seeded with a haha-shaped tree; `runner` (no git identity, like CI) and `colleague` clones."""
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(tmp_path / "gitconfig"))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    for var in ("GIT_AUTHOR_NAME", "GIT_AUTHOR_EMAIL", "GIT_COMMITTER_NAME", "GIT_COMMITTER_EMAIL", "EMAIL"):
        monkeypatch.delenv(var, raising=False)
    r = Repos(tmp_path)
    git(tmp_path, "init", "-q", "--bare", "-b", "main", str(r.remote))
    git(r.remote, "config", "receive.denyNonFastForwards", "true")
    git(r.remote, "config", "receive.denyDeletes", "true")
    git(tmp_path, "clone", "-q", str(r.remote), str(r.colleague))
    git(r.colleague, "config", "user.name", "Colleague")
    git(r.colleague, "config", "user.email", "colleague@example.com")
    write(r.colleague, "pyproject.toml", "[tool.haha]\n")
    write(r.colleague, "train/config/fam-001.yml", "learning_rate: 0.0001\n")
    write(r.colleague, "train/results/.gitkeep", "")
    git(r.colleague, "add", "-A")
    git(r.colleague, "commit", "-q", "-m", "seed")
    git(r.colleague, "push", "-q", "origin", "main")
    git(tmp_path, "clone", "-q", str(r.remote), str(r.runner))
    return r


@pytest.fixture
def git_calls(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, ...]]:
    """Every git command gitops runs, to prove none of them forces anything."""
    calls: list[tuple[str, ...]] = []
    real = pipeline.core.git.git

    def spy(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
        calls.append(args)
        return real(root, *args)

    # gitops calls git() directly and through git_output(), which looks git up in pipeline.core.git.
    monkeypatch.setattr(gitops, "git", spy)
    monkeypatch.setattr(pipeline.core.git, "git", spy)
    return calls


def assert_never_forced(calls: list[tuple[str, ...]]) -> None:
    pushes = [c for c in calls if "push" in c]
    assert pushes
    for push in pushes:
        assert not {"-f", "--force", "--force-with-lease", "--mirror", "--delete"} & set(push), push
        assert not any(arg.startswith(("+", "--force")) for arg in push), push


def remote_log(remote: Path) -> list[str]:
    return git(remote, "log", "--format=%s", "main").splitlines()


def no_sleep(record: list[float]) -> Callable[[float], None]:
    return record.append


# --- pure helpers ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("stderr", "race"),
    [
        (" ! [rejected]        HEAD -> main (fetch first)\nerror: failed to push some refs", True),
        (" ! [rejected]        HEAD -> main (non-fast-forward)", True),
        ("hint: Updates were rejected because the remote contains work that you do not\nhint: have locally.", True),
        ("error: cannot lock ref 'refs/heads/main': is at abc but expected def", True),
        ("remote: Permission to org/repo.git denied to github-actions[bot].\nfatal: unable to access", False),
        ("fatal: could not read Username for 'https://github.com': No such device or address", False),
        (" ! [remote rejected] HEAD -> main (protected branch hook declined)", False),
    ],
)
def test_remote_advanced(stderr: str, race: bool) -> None:
    assert remote_advanced(stderr) is race


def test_backoff_grows_and_is_capped() -> None:
    assert [PUSH_BACKOFF.delay(n) for n in (1, 2, 3, 4)] == [1.0, 2.0, 4.0, 8.0]
    assert PUSH_BACKOFF.delay(20) == 30.0


def test_identity_args_only_fill_what_is_missing() -> None:
    assert identity_args("Me", "me@example.com") == []
    assert identity_args("", "me@example.com") == ["-c", f"user.name={BOT_NAME}"]
    assert len(identity_args("", "")) == 4


def test_default_message_names_the_configs() -> None:
    assert default_message(["train/results/b-002.json", "train/results/a-001.json", "train/results/index.html"]) \
        == "Results for a-001, b-002"
    assert default_message(["train/results/README.md"]) == "Update results index"
    many = default_message([f"train/results/f-{n:03d}.json" for n in range(12)])
    assert many.endswith("f-009 and 2 more")


# --- against a real remote ------------------------------------------------------------------------------------------


def test_results_land_although_the_remote_advanced_meanwhile(repos: Repos, git_calls: list[tuple[str, ...]]) -> None:
    write(repos.runner, RESULTS, '{"results": []}\n')  # the run finishes on the runner...
    theirs = push_change(repos.colleague, "train/config/fam-002.yml", "learning_rate: 0.0002\n", "add fam-002")
    # ...while a colleague's push moved main on.
    sleeps: list[float] = []
    outcome = commit_results(repos.runner, sleep=no_sleep(sleeps))

    assert outcome.committed and outcome.attempts == 2 and outcome.files == (RESULTS,)
    assert sleeps == [1.0]
    assert remote_log(repos.remote) == ["Results for fam-001", "add fam-002", "seed"]
    assert git(repos.remote, "rev-parse", "main") == outcome.sha
    git(repos.remote, "merge-base", "--is-ancestor", theirs, "main")  # their commit survived
    assert git(repos.remote, "show", f"main:{RESULTS}") == '{"results": []}'
    assert git(repos.remote, "log", "-1", "--format=%an", "main") == BOT_NAME  # runner has no identity
    assert_never_forced(git_calls)


def test_only_results_are_committed_and_local_edits_survive_the_rebase(repos: Repos) -> None:
    write(repos.runner, RESULTS, "{}\n")
    write(repos.runner, "train/config/fam-001.yml", "learning_rate: 0.5\n")  # a stray local edit
    write(repos.runner, "notes.txt", "scratch\n")
    git(repos.runner, "add", "notes.txt")  # even staged, it is not the results' business
    push_change(repos.colleague, "README.md", "hello\n", "readme")

    outcome = commit_results(repos.runner, sleep=no_sleep([]))

    assert outcome.committed
    assert git(repos.remote, "show", "--name-only", "--format=", "main").splitlines() == [RESULTS]
    assert (repos.runner / "train/config/fam-001.yml").read_text() == "learning_rate: 0.5\n"
    assert "notes.txt" in git(repos.runner, "diff", "--cached", "--name-only")


def test_temp_files_and_progress_sidecars_are_never_committed(repos: Repos) -> None:
    """A kill -9 mid-write leaves `.<name>.*.tmp`; a cut-off eval leaves its progress: neither is a result."""
    write(repos.runner, RESULTS, "{}\n")
    write(repos.runner, "train/results/.index.html.k2j3.tmp", "half a page")
    write(repos.runner, "train/results/base/.ref.json.x1.tmp", "half a file")
    write(repos.runner, "train/results/fam-001.json.partial.jsonl", "{}\n")

    assert commit_results(repos.runner, sleep=no_sleep([])).committed
    assert git(repos.remote, "show", "--name-only", "--format=", "main").splitlines() == [RESULTS]


def test_nothing_to_commit_is_quiet_and_pushes_nothing(repos: Repos, git_calls: list[tuple[str, ...]]) -> None:
    before = git(repos.remote, "rev-parse", "main")
    outcome = commit_results(repos.runner, sleep=no_sleep([]))
    assert not outcome.committed
    assert git(repos.remote, "rev-parse", "main") == before
    assert not [c for c in git_calls if "push" in c]


def test_a_remote_that_keeps_moving_exhausts_the_attempts(repos: Repos, git_calls: list[tuple[str, ...]]) -> None:
    write(repos.runner, RESULTS, "{}\n")
    pushed = [push_change(repos.colleague, "train/data/d.jsonl", "0\n", "data 0")]

    def colleague_pushes_again(_seconds: float) -> None:
        pushed.append(push_change(repos.colleague, "train/data/d.jsonl", f"{len(pushed)}\n", f"data {len(pushed)}"))

    with pytest.raises(GitOpsError, match="rejected 3 times"):
        commit_results(repos.runner, attempts=3, sleep=colleague_pushes_again)

    assert git(repos.remote, "rev-parse", "main") == pushed[-1]
    assert remote_log(repos.remote) == ["data 2", "data 1", "data 0", "seed"]
    assert len([c for c in git_calls if "push" in c]) == 3
    assert_never_forced(git_calls)


def test_a_rebase_conflict_stops_without_pushing(repos: Repos) -> None:
    write(repos.runner, RESULTS, '{"mine": 1}\n')
    theirs = push_change(repos.colleague, RESULTS, '{"theirs": 1}\n', "their results")

    with pytest.raises(GitOpsError, match="rebasing the results"):
        commit_results(repos.runner, sleep=no_sleep([]))

    assert git(repos.remote, "rev-parse", "main") == theirs
    assert not (repos.runner / ".git" / "rebase-merge").exists()
    assert not (repos.runner / ".git" / "rebase-apply").exists()


def test_a_push_that_fails_for_another_reason_is_not_retried(repos: Repos, git_calls: list[tuple[str, ...]]) -> None:
    write(repos.runner, RESULTS, "{}\n")
    git(repos.runner, "remote", "add", "nowhere", str(repos.remote.parent / "missing.git"))
    with pytest.raises(GitOpsError, match="not a race"):
        commit_results(repos.runner, remote="nowhere", sleep=no_sleep([]))
    assert len([c for c in git_calls if "push" in c]) == 1


def test_cli_commit_results(repos: Repos, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HAHA_ROOT", str(repos.runner))
    write(repos.runner, RESULTS, "{}\n")
    first = CliRunner().invoke(app, ["commit-results", "--message", "results by hand"])
    assert first.exit_code == 0, first.output
    assert "pushed" in first.output
    assert remote_log(repos.remote)[0] == "results by hand"
    again = CliRunner().invoke(app, ["commit-results"])
    assert again.exit_code == 0
    assert "nothing to commit" in again.output
