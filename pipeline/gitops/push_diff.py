"""What a push touched under train/config (`haha pending --diff BEFORE AFTER`): a report for people, saying what
was added, modified, renamed or deleted, with first pushes and force pushes handled.

It never decides what runs: that is each config's state against its results (results/pending.py), which a
cancelled run cannot hide. Deleted configs are reported and never run.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pipeline.core.git import git, git_output
from pipeline.core.naming import sort_key

ChangeKind = Literal["added", "modified", "renamed", "deleted"]

@dataclass(frozen=True)
class Change:
    """One path a push touched; `old_path` is set for renames."""

    kind: ChangeKind
    path: str
    old_path: str | None = None

    def to_json(self) -> dict[str, str | None]:
        return {"kind": self.kind, "path": self.path, "old_path": self.old_path}

    def __str__(self) -> str:
        if self.kind == "renamed":
            return f"renamed  {self.old_path} -> {self.path}"
        if self.kind == "deleted":
            return f"deleted  {self.path} (not run)"
        return f"{self.kind:<8} {self.path}"


def parse_name_status(output: str) -> list[Change]:
    """Parse `git diff --name-status -z -M` output.

    `-z` output is NUL-separated: a status then one path, or for renames and copies (`R100`, `C75`)
    the old path then the new one. NUL separation means odd file names arrive unquoted. A type
    change (`T`) is a modification; a copy adds its new path.
    """
    fields = output.split("\0")
    if fields and fields[-1] == "":
        fields.pop()
    changes: list[Change] = []
    index = 0
    while index < len(fields):
        status = fields[index]
        letter = status[:1]
        if letter in ("R", "C"):
            old, new = fields[index + 1], fields[index + 2]
            index += 3
            changes.append(Change("renamed", new, old) if letter == "R" else Change("added", new))
            continue
        path = fields[index + 1]
        index += 2
        if letter == "A":
            changes.append(Change("added", path))
        elif letter in ("M", "T"):
            changes.append(Change("modified", path))
        elif letter == "D":
            changes.append(Change("deleted", path))
        else:
            raise ValueError(f"unexpected git name-status '{status}' for {path}")
    return changes


def changed_configs(changes: Iterable[Change]) -> list[str]:
    """Config files that exist after the push and differ from before it: the ones a PR's smoke test runs."""
    paths = {c.path for c in changes if c.kind != "deleted" and c.path.endswith(".yml")}
    return sorted(paths, key=sort_key)


def is_null_sha(sha: str) -> bool:
    """GitHub's `before` for a branch's first push: all zeros (40 for SHA-1 repos, 64 for SHA-256)."""
    return bool(sha) and set(sha) == {"0"}


def choose_base(before: str, before_known: bool, is_ancestor: bool, merge_base: str | None) -> tuple[str | None, str]:
    """What to diff AFTER against, and a note when that is not simply BEFORE; base None means "everything is new".

    A force push leaves BEFORE off AFTER's history (or out of the clone entirely), so BEFORE..AFTER
    would report the rewritten commits backwards; the merge-base is the last state both share.
    """
    if is_null_sha(before):
        return None, "first push: every config in AFTER counts as added"
    if not before_known:
        return None, (f"{before[:12]} is not in this repository (force push or shallow clone): every config "
                      "counts as added")
    if is_ancestor:
        return before, ""
    if merge_base:
        return merge_base, (f"force push: {before[:12]} is not an ancestor of AFTER; compared against their merge-base "
                            f"{merge_base[:12]}")
    return None, f"force push: {before[:12]} shares no history with AFTER; every config counts as added"


@dataclass(frozen=True)
class PushDiff:
    before: str
    after: str
    base: str | None
    note: str
    changes: list[Change]

    def to_json(self) -> dict[str, object]:
        return {"before": self.before, "after": self.after, "base": self.base, "note": self.note,
                "changes": [c.to_json() for c in self.changes], "changed_configs": changed_configs(self.changes)}


def push_diff(root: Path, before: str, after: str, config_dir: Path) -> PushDiff:
    """What the push BEFORE..AFTER changed under config_dir, with first and force pushes handled."""
    after_sha = git_output(root, "rev-parse", "--verify", f"{after}^{{commit}}").strip()
    known = not is_null_sha(before) and git(root, "cat-file", "-e", f"{before}^{{commit}}").returncode == 0
    ancestor = known and git(root, "merge-base", "--is-ancestor", before, after_sha).returncode == 0
    merge_base = None
    if known and not ancestor:
        merge_base = git(root, "merge-base", before, after_sha).stdout.strip() or None
    base, note = choose_base(before, known, ancestor, merge_base)
    # The empty tree stands in for "before anything": every file in AFTER shows as added.
    base_ref = base or git_output(root, "hash-object", "-t", "tree", "/dev/null").strip()
    pathspec = str(config_dir.resolve().relative_to(root.resolve()))
    output = git_output(root, "diff", "--name-status", "-z", "-M", "--relative", base_ref, after_sha, "--", pathspec)
    changes = sorted(parse_name_status(output), key=lambda c: sort_key(c.path))
    return PushDiff(before, after_sha, base, note, changes)
