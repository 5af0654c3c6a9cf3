"""The results index's model: what one results file is to the index (`Entry`), how it is read and dated, and
the pure helpers the README (readme.py), the page (page.py) and `haha compare` share.

Rendering is pure (a `Scan` in, text out) so it is tested without a disk; `read_entry` and
`scan_results` are the only functions here that touch files. Old-format files (no `meta`) are
indexed too, and one broken file is listed as broken instead of hiding all the others.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

from pipeline.core.naming import is_hub_id, sort_key
from pipeline.evaluate.quality import quality
from pipeline.formats.results import (
    CONFIG_KEYS,
    Diversity,
    JudgeScores,
    Quality,
    ResultsDoc,
    ResultsError,
    Scalar,
    diversity,
    load_results,
)
from pipeline.formats.tracking import WANDB_URL, WandbRef
from pipeline.results.failures import FAILED_SUFFIX, FailureRecord, read_failure
from pipeline.results.rank import largest_group

HUB_URL = "https://huggingface.co/"
# `entity/project/run_id`, the one form of `meta.wandb_run` that becomes a link (and its page's address).
WANDB_PART = r"[A-Za-z0-9_.-]+"
WANDB_RUN_PATH = re.compile(rf"({WANDB_PART})/({WANDB_PART})/({WANDB_PART})\Z")
WANDB_RUN_URL = re.compile(rf"{re.escape(WANDB_URL)}({WANDB_PART})/({WANDB_PART})/runs/({WANDB_PART})/?\Z")


class DatedBy(StrEnum):
    META = "meta"  # the eval's own finish time
    COMMIT = "commit"  # an old-format file: the last commit of the results file
    UNKNOWN = "unknown"  # neither (a file not committed yet)


@dataclass(frozen=True)
class ConfigSnapshot:
    """A config's hyperparameters as read from train/config, and from where (which commit, or the current file)."""

    hyperparameters: dict[str, Scalar]
    source: str


@dataclass(frozen=True)
class Sources:
    """What the index reads besides the results files (results/sources.py gathers it from git and train/config)."""

    commit_times: Mapping[str, datetime] = field(default_factory=dict)  # by results file name
    configs: Mapping[str, ConfigSnapshot] = field(default_factory=dict)  # by basename


RECORDED = "recorded with the results"
BASE = "base"  # the folder of base-model references inside the results folder
RECORDED_KEYS = f"only the {len(CONFIG_KEYS)} keys the results file recorded (no config found)"


@dataclass(frozen=True)
class Entry:
    """One readable results file, with when it finished, its hyperparameters, and how each is known."""

    name: str
    doc: ResultsDoc
    finished: datetime | None
    dated_by: DatedBy
    hyperparameters: Mapping[str, Scalar]  # flattened, base_model included
    hyperparameters_from: str  # RECORDED, a config snapshot's source, or RECORDED_KEYS
    reference: bool = False  # a base-model reference (`haha evaluate --base`), not a config's results


@dataclass(frozen=True)
class Broken:
    file: str
    reason: str

    def __str__(self) -> str:
        return f"{self.file}: {self.reason}"


@dataclass(frozen=True)
class Scan:
    entries: list[Entry]  # by family, then number
    broken: list[Broken]
    failures: dict[str, FailureRecord] = field(default_factory=dict)  # by basename: configs whose runs failed


@dataclass(frozen=True)
class Link:
    text: str
    url: str | None


# ---- pure helpers shared by the README, the HTML page and `haha compare` ----


@dataclass(frozen=True)
class JudgeView:
    """The judge scores the index shows: the largest set scored by one judge revision on one sweep spec."""

    label: str  # `haha-llama-3-8b-reward-001 at 1a2b3c4d5e6f`
    scores: Mapping[str, JudgeScores]  # by entry name; entries scored otherwise are left out


def judge_view(entries: Sequence[Entry]) -> JudgeView | None:
    named = [(entry.name, entry.doc.judge) for entry in entries if entry.doc.judge is not None]
    shown, _ = largest_group(named)
    if not shown:
        return None
    by_name = dict(named)
    judge = by_name[shown[0].name].judge
    return JudgeView(f"{judge.basename} at {judge.revision[:12]}", {c.name: by_name[c.name] for c in shown})


def format_value(value: Scalar) -> str:
    """How a config value reads to a person; two values that print the same are not a difference."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def setting_label(setting: Mapping[str, Any]) -> str:
    """`t=0.9 top_p=0.95`: temperature first, since the sweep is mostly over it."""
    rest = [f"{key}={format_value(value)}" for key, value in setting.items() if key != "temperature"]
    return " ".join([f"t={format_value(setting.get('temperature'))}", *rest])


def _setting_order(setting: Mapping[str, Any]) -> tuple[float, str]:
    temperature = setting.get("temperature")
    return (temperature if isinstance(temperature, int | float) else 0.0, setting_label(setting))


def setting_labels(docs: Sequence[ResultsDoc]) -> list[str]:
    """Every setting any of the docs ran, coldest first."""
    settings = {setting_label(r.setting): r.setting for d in docs for p in d.results for r in p.settingsResults}
    return [setting_label(s) for s in sorted(settings.values(), key=_setting_order)]


def diversity_figures(doc: ResultsDoc) -> list[Diversity]:
    """The figures the eval stage recorded, else (old files) the same figures computed from the completions."""
    if doc.meta and doc.meta.diversity:
        return doc.meta.diversity
    return diversity(doc.results)


def quality_of(doc: ResultsDoc) -> list[Quality]:
    """The signals the eval recorded, else (older files) the same computed from the completions."""
    return doc.meta.quality if doc.meta and doc.meta.quality else quality(doc.results)


# The signals the index shows for a whole config: (label, Quality field).
SIGNALS = (("empty", "empty_share"), ("never stopped", "never_stopped_share"), ("distinct-2", "distinct_2"),
           ("mean length", "mean_chars"))
# Every Quality figure that can be weighted over settings: the shown signals, and the repeated share (shown per
# setting in the index, overall in a family comparison).
OVERALL_FIELDS = (*(name for _label, name in SIGNALS), "repeated_share")


def overall_quality(doc: ResultsDoc) -> dict[str, float | None]:
    """Each signal over all settings, weighted by completions; None when a setting did not record it."""
    figures = quality_of(doc)
    total = sum(q.completions for q in figures)
    found: dict[str, float | None] = {}
    for field_name in OVERALL_FIELDS:
        values = [getattr(q, field_name) for q in figures]
        found[field_name] = (None if not total or any(v is None for v in values) else
                             sum(v * q.completions for v, q in zip(values, figures, strict=True)) / total)
    return found


def format_signal(field_name: str, value: float | None) -> str:
    if value is None:
        return "—"
    if field_name == "mean_chars":
        return f"{value:.0f} chars"
    return f"{value:.2f}" if field_name == "distinct_2" else percent(value)


def loss_change(doc: ResultsDoc) -> str:
    """`3.96 → 3.10`: the training loss from its first logged step to its last, when the results recorded it."""
    curve = doc.meta.training_loss if doc.meta else None
    return f"{curve.loss[0]:.2f} → {curve.loss[-1]:.2f}" if curve and curve.loss else "—"


def repeated_by_label(doc: ResultsDoc) -> dict[str, float]:
    return {setting_label(figure.setting): figure.repeated_share for figure in diversity_figures(doc)}


def percent(share: float) -> str:
    return f"{share:.0%}"


def hyperparameters_of_entry(doc: ResultsDoc, snapshot: ConfigSnapshot | None) -> tuple[dict[str, Scalar], str]:
    """The whole config the results file recorded; for older files its config from train/config (as committed with
    the results, else the current file), else the 14 keys its `config` block holds. The base model is meta's."""
    if doc.meta and doc.meta.hyperparameters is not None:
        table, source = dict(doc.meta.hyperparameters), RECORDED
    elif snapshot is not None:
        table, source = {**doc.config.hyperparameters(), **snapshot.hyperparameters}, snapshot.source
    else:
        table, source = doc.config.hyperparameters(), RECORDED_KEYS
    if doc.meta and doc.meta.base_model:
        table["base_model"] = doc.meta.base_model
    return table, source


def base_model_of(entry: Entry) -> Scalar:
    return entry.hyperparameters.get("base_model")


def hyperparameter_rows(tables: Sequence[Mapping[str, Scalar]]) -> dict[str, list[Scalar]]:
    """Base model, the 14 haha keys in their order, then every other key sorted: one value per table."""
    extra = sorted({key for table in tables for key in table} - {*CONFIG_KEYS, "base_model"})
    return {key: [table.get(key) for table in tables] for key in ("base_model", *CONFIG_KEYS, *extra)}


def differing(rows: Mapping[str, Sequence[Scalar]]) -> list[str]:
    """The keys whose values read differently across the docs: what the reader came to see."""
    return [key for key, values in rows.items() if len({format_value(v) for v in values}) > 1]


def seed_of(doc: ResultsDoc, index: int) -> int:
    """The seed of the index-th completion: meta's list when present, else 1, 2, ... as eval.json defines."""
    seeds = doc.meta.seeds if doc.meta else []
    return seeds[index] if index < len(seeds) else index + 1


def repeated_flags(completions: Sequence[str]) -> list[bool]:
    """Which completions another seed also produced, word for word."""
    return [completions.count(text) > 1 for text in completions]


def hub_link(repo: str | None, source: str | None = None) -> Link | None:
    """A Hub repo id (or its huggingface.co address) links to huggingface.co; a push to a local hub folder
    (`source` a file: URL), or anything that is not a repo id, is shown as written, never linked."""
    if not repo:
        return None
    if repo.startswith(HUB_URL) and is_hub_id(repo.removeprefix(HUB_URL)):
        return Link(repo.removeprefix(HUB_URL), repo)
    on_hub = is_hub_id(repo) and not (source or "").startswith("file:")
    return Link(repo, HUB_URL + repo if on_hub else None)


def wandb_link(run: str | None) -> Link | None:
    """Only `entity/project/run_id` (or that run's wandb.ai address) is linked, and to the address built from
    its parts; anything else (a bare run name, another address) stays text."""
    if not run:
        return None
    if match := WANDB_RUN_URL.match(run) or WANDB_RUN_PATH.match(run):
        entity, project, run_id = match.groups()
        return Link(run_id, WandbRef(project, run_id, entity, run_id).url)
    return Link(run, None)


def parse_time(text: str | None) -> datetime | None:
    """An ISO 8601 time from meta; naive times are taken as UTC, unparsable ones as unknown."""
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def format_time(moment: datetime | None) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M") if moment else "unknown"


def in_config_order(entries: Sequence[Entry]) -> list[Entry]:
    """By family, then number (010 after 009): the order train/config lists them, the same on every checkout."""
    return sorted(entries, key=lambda e: sort_key(f"{e.name}.yml"))


# ---- disk ----


def read_entry(path: Path, sources: Sources = Sources(), reference: bool = False) -> Entry | Broken:
    """One results file as an Entry, or Broken with the reason (named by file name, not machine path).

    A base-model reference is named `base/<file stem>`, so it can never take a config's name.
    """
    shown = f"{BASE}/{path.name}" if reference else path.name
    try:
        doc = load_results(path, display=shown)
    except ResultsError as exc:
        return Broken(shown, str(exc).removeprefix(f"{shown}: "))
    if reference:  # no training: only the model itself to compare on
        base = doc.meta.base_model if doc.meta else None
        finished = parse_time(doc.meta.finished) if doc.meta else None
        return Entry(f"{BASE}/{path.stem}", doc, finished, DatedBy.META if finished else DatedBy.UNKNOWN,
                     {"base_model": base}, "the base model without an adapter", reference=True)
    table, source = hyperparameters_of_entry(doc, sources.configs.get(path.stem))
    if (finished := parse_time(doc.meta.finished) if doc.meta else None) is not None:
        return Entry(path.stem, doc, finished, DatedBy.META, table, source)
    if (committed := sources.commit_times.get(path.name)) is not None:
        return Entry(path.stem, doc, committed, DatedBy.COMMIT, table, source)
    return Entry(path.stem, doc, None, DatedBy.UNKNOWN, table, source)


def results_files(results_dir: Path) -> tuple[list[Path], list[Path]]:
    """The configs' results files and the base-model references (`base/`, `haha evaluate --base`) beside them;
    failure records (`<basename>.failed.json`) are not results."""
    configs = [path for path in results_dir.glob("*.json") if not path.name.endswith(FAILED_SUFFIX)]
    return sorted(configs), sorted(results_dir.glob(f"{BASE}/*.json"))


def scan_results(results_dir: Path, sources: Sources = Sources()) -> Scan:
    """Every config's results in config order, then the base-model references."""
    configs, base_references = results_files(results_dir)
    read = [read_entry(path, sources) for path in configs]
    references = [read_entry(path, sources, reference=True) for path in base_references]
    entries = in_config_order([item for item in read if isinstance(item, Entry)])
    entries += [item for item in references if isinstance(item, Entry)]
    failures = {path.name.removesuffix(FAILED_SUFFIX): record for path in sorted(results_dir.glob(f"*{FAILED_SUFFIX}"))
                if (record := read_failure(results_dir, path.name.removesuffix(FAILED_SUFFIX))) is not None}
    return Scan(entries, [item for item in read + references if isinstance(item, Broken)], failures)
