"""Change detection: which configs still need a run, and what a push touched under train/config.

What runs is decided from the repository's *state*, never from a push's diff: GitHub keeps
only one pending run per concurrency group, so when pushes A, B and C land while a run is
busy, the run for B is cancelled and C's diff alone would never mention B's config. Reading
the state (config file vs. its results file) finds all three.

A config is pending when it has no results file, when its results were made from different
config bytes (`meta.config_sha256`), when the results file cannot be read, or when its
evaluation never finished (no `meta.finished`: a sweep that was cut off). A results
file without `meta` comes from the pre-pipeline haha era, before hashes were recorded: it is
judged on the 14 hyperparameters its `config` block recorded, pending when the YAML now says
otherwise (the reason names each key, old value and new), done when they match (re-running
would only spend GPU time to reproduce published results). A config with a `haha_parent` is
also pending while its parent is, and when the parent's results name another adapter revision
than the one the child started from. Use `haha run --force CONFIG` to redo one.

The push diff (`--diff BEFORE AFTER`) is a report for people: it says what was added,
modified, renamed or deleted. Deleted configs are reported and never run.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pipeline.config.lineage import Needs, needs_first, parent_needed, parent_path, read_parent_key
from pipeline.config.loading import ConfigLoadError, config_sha256, load_config
from pipeline.core.git import git, git_output
from pipeline.core.naming import basename_of, sort_key
from pipeline.core.runs import AdapterRef
from pipeline.core.settings import results_path
from pipeline.formats.results import (
    CONFIG_KEYS,
    ConfigBlock,
    Meta,
    ResultsDoc,
    ResultsError,
    hyperparameters_of,
    load_results,
)
from pipeline.results.failures import read_failure

NO_RESULTS = "no results"
CONFIG_CHANGED = "config changed since results"
INCOMPLETE = "results incomplete (evaluation did not finish)"
PARENT_PENDING = "its haha_parent {parent} is pending"
PARENT_CHANGED = "its haha_parent {parent} published another adapter since these results"
PREDATES_HASHES = f"results predate hashes; matching on the {len(CONFIG_KEYS)} recorded keys"

ChangeKind = Literal["added", "modified", "renamed", "deleted"]


@dataclass(frozen=True)
class Pending:
    """A config that needs a run, and why."""

    path: Path
    reason: str

    def to_json(self) -> dict[str, str]:
        return {"config": str(self.path), "basename": basename_of(self.path), "reason": self.reason}


def _number(value: object) -> float | None:
    """A YAML or JSON value as a number when it is one (PyYAML reads `1e-5` as a string), else None."""
    if isinstance(value, bool) or value is None:
        return None
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None


def same_value(recorded: object, current: object) -> bool:
    if (a := _number(recorded)) is not None and (b := _number(current)) is not None:
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=0.0)
    return ((recorded in (None, "")) and (current in (None, ""))) or recorded == current


def shown_value(value: object) -> str:
    if value in (None, ""):
        return "unset"
    if isinstance(value, str) and (number := _number(value)) is not None:
        return repr(number)  # YAML's string `1e-5` shows as the number it means
    return repr(value) if isinstance(value, float) else str(value)


def recorded_drift(block: ConfigBlock, config: Mapping[str, Any]) -> list[str]:
    """`learning_rate 9.5e-05 → 0.0002` for each hyperparameter the file recorded that the YAML now sets otherwise.

    Keys the file never wrote cannot be compared and are left out.
    """
    recorded = block.model_dump(exclude_unset=True)
    return [f"{key} {shown_value(recorded[key])} → {shown_value(config.get(key))}"
            for key in CONFIG_KEYS if key in recorded and not same_value(recorded[key], config.get(key))]


def hyperparameter_drift(recorded: Mapping[str, Any], current: Mapping[str, Any], shown_keys: int = 5) -> str:
    """`lora_r 32 → 8; weight_decay unset → 0.1`: what changed between the recorded config and the YAML now."""
    keys = [key for key in dict.fromkeys([*recorded, *current])
            if not same_value(recorded.get(key), current.get(key))]
    changes = [f"{key} {shown_value(recorded.get(key))} → {shown_value(current.get(key))}" for key in keys]
    more = f"; and {len(changes) - shown_keys} more" if len(changes) > shown_keys else ""
    return "; ".join(changes[:shown_keys]) + more


@dataclass(frozen=True)
class Verdict:
    """Whether a config needs a run: `reason` when it does, else a `note` when the judgement needs one."""

    reason: str | None
    note: str = ""


def judge(config_hash: str, config: Mapping[str, Any], doc: ResultsDoc) -> Verdict:
    """A config with this hash and these contents against its parsed results file."""
    if doc.meta is None:  # pre-pipeline haha results: only the recorded hyperparameters can be compared
        drift = recorded_drift(doc.config, config)
        return Verdict(f"{CONFIG_CHANGED}: {'; '.join(drift)}") if drift else Verdict(None, PREDATES_HASHES)
    if doc.meta.config_sha256 != config_hash:
        recorded = doc.meta.hyperparameters
        drift = hyperparameter_drift(recorded, hyperparameters_of(config)) if recorded is not None else ""
        return Verdict(f"{CONFIG_CHANGED}: {drift}" if drift else CONFIG_CHANGED)
    if not doc.meta.finished:
        return Verdict(INCOMPLETE)  # a sweep cut off half way writes its file without `finished`; the run resumes it
    return Verdict(None)


def verdict_for(config_path: Path, results_dir: Path) -> Verdict:
    """Judged by the config file against `<results_dir>/<basename>.json`."""
    return _judged(config_path, results_dir)[0]


def _judged(config_path: Path, results_dir: Path) -> tuple[Verdict, Meta | None]:
    """The verdict, and the results' `meta` when they were read (what a child's verdict compares with). A config
    that failed GIVE_UP_AFTER runs in a row as it is now is not pending: only a dispatch naming it runs it."""
    failure = read_failure(results_dir, basename_of(config_path))
    if failure is not None and config_path.is_file() and failure.gives_up(config_sha256(config_path)):
        return Verdict(None, f"{failure.describe()}; not retried: change it, or run it by dispatch"), None
    path = results_path(results_dir, basename_of(config_path))
    if not path.exists():
        return Verdict(NO_RESULTS), None
    try:
        doc = load_results(path)
        config = load_config(config_path)
    except (ResultsError, ConfigLoadError) as exc:
        return Verdict(f"{'results' if isinstance(exc, ResultsError) else 'config'} file unreadable: {exc}"), None
    return judge(config.sha256, config.data, doc), doc.meta


def parent_verdict(parent: str, own: Verdict, parent_own: Verdict, recorded: AdapterRef | None,
                   published: str | None) -> Verdict:
    """A child that is done by its own results is pending again when its parent is, or published another adapter
    than the one the child started from."""
    if own.reason is not None:
        return own
    if parent_own.reason is not None:
        return Verdict(f"{PARENT_PENDING.format(parent=parent)} ({parent_own.reason})")
    if recorded is None or recorded.basename != parent or recorded.revision != published:
        was = recorded.revision[:12] if recorded is not None else "none"
        return Verdict(f"{PARENT_CHANGED.format(parent=parent)} (adapter {was} → {(published or 'none')[:12]})")
    return own


class Judge:
    """Verdicts for configs in one results folder, each config judged once, parents before their children."""

    def __init__(self, results_dir: Path) -> None:
        self.results_dir = results_dir
        self.found: dict[Path, tuple[Verdict, Meta | None]] = {}

    def verdict(self, path: Path) -> Verdict:
        return self._judged(path, frozenset())[0]

    def _judged(self, path: Path, seen: frozenset[Path]) -> tuple[Verdict, Meta | None]:
        if path not in self.found:
            own, meta = _judged(path, self.results_dir)
            parent = read_parent_key(path)
            if parent is not None and path not in seen:  # a loop is validation's to report, not a reason to hang
                parent_own, parent_meta = self._judged(parent_path(path, parent), seen | {path})
                own = parent_verdict(parent, own, parent_own, meta.parent if meta else None,
                                     parent_meta.hub_revision if parent_meta else None)
            self.found[path] = own, meta
        return self.found[path]


def verdicts(config_paths: Iterable[Path], results_dir: Path,
             needs: Needs = parent_needed) -> list[tuple[Path, Verdict]]:
    """Every config's verdict, in family then numeric order (010 after 009), each after the configs it needs."""
    judge_ = Judge(results_dir)
    ordered = needs_first(sorted(config_paths, key=sort_key), needs)
    return [(path, judge_.verdict(path)) for path in ordered]


def pending(config_paths: Iterable[Path], results_dir: Path, needs: Needs = parent_needed) -> list[Pending]:
    """The configs that need a run, in family then numeric order, each after the configs it needs."""
    return [Pending(path, v.reason) for path, v in verdicts(config_paths, results_dir, needs)
            if v.reason is not None]


def with_pending_needs(config_paths: Iterable[Path], results_dir: Path,
                       needs: Needs = parent_needed) -> tuple[list[Path], list[Pending]]:
    """The configs asked for plus every pending config they need (their parent, the reward model a best-of-N
    eval scores with), needed ones first; and the added ones.

    A PR's smoke check runs only the configs it changed: a new child of an existing parent has no
    smoke-trained parent to start from until the parent runs too.
    """
    judge_ = Judge(results_dir)
    asked = list({path.resolve(): path for path in config_paths}.values())
    known = {path.resolve() for path in asked}
    added: list[Pending] = []
    todo = list(asked)
    while todo:
        path = todo.pop(0)
        for needed in needs(path):
            candidate = parent_path(path, needed)
            if candidate.resolve() in known or not candidate.is_file():
                continue
            known.add(candidate.resolve())
            todo.append(candidate)
            if (reason := judge_.verdict(candidate).reason) is not None:
                added.append(Pending(candidate, f"needed by {basename_of(path)}, {reason}"))
    return needs_first([*asked, *(p.path for p in added)], needs), added


# --- what a push touched -------------------------------------------------------------------------------------------


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
