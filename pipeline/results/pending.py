"""Which configs still need a run: each config file judged against its results file. Reads files, never git.

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
than the one the child started from; a GRPO config likewise with its `haha_reward`. Use
`haha run --force CONFIG` to redo one.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline.config.lineage import PARENT_KEY, Needs, named_needs, needs_first, own_needs, parent_path
from pipeline.config.loading import ConfigLoadError, config_sha256, load_config
from pipeline.core.naming import basename_of, sort_key
from pipeline.core.numbers import as_number
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
from pipeline.results.values import exact_value

NO_RESULTS = "no results"
CONFIG_CHANGED = "config changed since results"
INCOMPLETE = "results incomplete (evaluation did not finish)"
PARENT_PENDING = "its {key} {parent} is pending"
PARENT_CHANGED = "its {key} {parent} published another adapter since these results"
PREDATES_HASHES = f"results predate hashes; matching on the {len(CONFIG_KEYS)} recorded keys"


@dataclass(frozen=True)
class Pending:
    """A config that needs a run, and why."""

    path: Path
    reason: str

    def to_json(self) -> dict[str, str]:
        return {"config": str(self.path), "basename": basename_of(self.path), "reason": self.reason}


def same_value(recorded: object, current: object) -> bool:
    """Whether a recorded hyperparameter and the YAML's agree: as numbers when both are one (`1e-5` is 1e-05),
    unset and empty alike."""
    if (a := as_number(recorded)) is not None and (b := as_number(current)) is not None:
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=0.0)
    return ((recorded in (None, "")) and (current in (None, ""))) or recorded == current


def recorded_drift(block: ConfigBlock, config: Mapping[str, Any]) -> list[str]:
    """`learning_rate 9.5e-05 → 0.0002` for each hyperparameter the file recorded that the YAML now sets otherwise.

    Keys the file never wrote cannot be compared and are left out.
    """
    recorded = block.model_dump(exclude_unset=True)
    return [f"{key} {exact_value(recorded[key])} → {exact_value(config.get(key))}"
            for key in CONFIG_KEYS if key in recorded and not same_value(recorded[key], config.get(key))]


def hyperparameter_drift(recorded: Mapping[str, Any], current: Mapping[str, Any], shown_keys: int = 5) -> str:
    """`lora_r 32 → 8; weight_decay unset → 0.1`: what changed between the recorded config and the YAML now."""
    keys = [key for key in dict.fromkeys([*recorded, *current])
            if not same_value(recorded.get(key), current.get(key))]
    changes = [f"{key} {exact_value(recorded.get(key))} → {exact_value(current.get(key))}" for key in keys]
    more = f"; and {len(changes) - shown_keys} more" if len(changes) > shown_keys else ""
    return "; ".join(changes[:shown_keys]) + more


@dataclass(frozen=True)
class Verdict:
    """Whether a config needs a run: `reason` when it does, else a `note` when the judgement needs one."""

    reason: str | None
    note: str = ""


def verdict_against(config_hash: str, config: Mapping[str, Any], doc: ResultsDoc) -> Verdict:
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
    return verdict_against(config.sha256, config.data, doc), doc.meta


def parent_verdict(parent: str, own: Verdict, parent_own: Verdict, recorded: AdapterRef | None,
                   published: str | None, key: str = PARENT_KEY) -> Verdict:
    """A child that is done by its own results is pending again when its parent is, or published another adapter
    than the one the child started from; the same for a GRPO config and its `haha_reward` (`key`)."""
    if own.reason is not None:
        return own
    if parent_own.reason is not None:
        return Verdict(f"{PARENT_PENDING.format(key=key, parent=parent)} ({parent_own.reason})")
    if recorded is None or recorded.basename != parent or recorded.revision != published:
        was = recorded.revision[:12] if recorded is not None else "none"
        return Verdict(f"{PARENT_CHANGED.format(key=key, parent=parent)} (adapter {was} → "
                       f"{(published or 'none')[:12]})")
    return own


class PendingVerdicts:
    """Verdicts for configs in one results folder, each config judged once, parents before their children."""

    def __init__(self, results_dir: Path) -> None:
        self.results_dir = results_dir
        self.found: dict[Path, tuple[Verdict, Meta | None]] = {}

    def verdict(self, path: Path) -> Verdict:
        return self._judged(path, frozenset())[0]

    def _judged(self, path: Path, seen: frozenset[Path]) -> tuple[Verdict, Meta | None]:
        if path not in self.found:
            own, meta = _judged(path, self.results_dir)
            needs = named_needs(path) if path not in seen else []  # a loop is validation's to report, not a hang
            for key, need in needs:
                need_own, need_meta = self._judged(parent_path(path, need), seen | {path})
                recorded = (meta.parent if key == PARENT_KEY else meta.reward_model) if meta else None
                own = parent_verdict(need, own, need_own, recorded, need_meta.hub_revision if need_meta else None,
                                     key)
            self.found[path] = own, meta
        return self.found[path]


def verdicts(config_paths: Iterable[Path], results_dir: Path,
             needs: Needs = own_needs) -> list[tuple[Path, Verdict]]:
    """Every config's verdict, in family then numeric order (010 after 009), each after the configs it needs."""
    judged = PendingVerdicts(results_dir)
    ordered = needs_first(sorted(config_paths, key=sort_key), needs)
    return [(path, judged.verdict(path)) for path in ordered]


def pending(config_paths: Iterable[Path], results_dir: Path, needs: Needs = own_needs) -> list[Pending]:
    """The configs that need a run, in family then numeric order, each after the configs it needs."""
    return [Pending(path, v.reason) for path, v in verdicts(config_paths, results_dir, needs)
            if v.reason is not None]


def with_pending_needs(config_paths: Iterable[Path], results_dir: Path,
                       needs: Needs = own_needs) -> tuple[list[Path], list[Pending]]:
    """The configs asked for plus every pending config they need (their parent, the reward model a best-of-N
    eval scores with), needed ones first; and the added ones.

    A PR's smoke check runs only the configs it changed: a new child of an existing parent has no
    smoke-trained parent to start from until the parent runs too.
    """
    judged = PendingVerdicts(results_dir)
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
            if (reason := judged.verdict(candidate).reason) is not None:
                added.append(Pending(candidate, f"needed by {basename_of(path)}, {reason}"))
    return needs_first([*asked, *(p.path for p in added)], needs), added
