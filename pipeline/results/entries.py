"""The results index's model: what one results file is to the index (an `Entry`), how it is dated, and the
figures the README (readme.py), the page (page.py) and `haha compare` (compare.py) take from entries.

Pure: files are read by scan.py, values are turned into text by values.py. Old-format files (no `meta`) are
entries too, and one broken file is a `Broken` beside the others instead of hiding them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

from pipeline.core.naming import sort_key
from pipeline.data.thumbnails import Thumbnail, thumbnail_key
from pipeline.evaluate.quality import quality
from pipeline.formats.results import (
    CONFIG_KEYS,
    Diversity,
    JudgeScores,
    PromptResult,
    Quality,
    ResultsDoc,
    Scalar,
    diversity,
)
from pipeline.ratings.check import RatingsRead
from pipeline.results.failures import FailureRecord
from pipeline.results.rank import largest_group
from pipeline.results.values import rounded_value, setting_label


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
    """What the index reads besides the results files (results/sources.py gathers it from git, train/config and
    the ratings folder)."""

    commit_times: Mapping[str, datetime] = field(default_factory=dict)  # by results file name
    configs: Mapping[str, ConfigSnapshot] = field(default_factory=dict)  # by basename
    ratings: RatingsRead = field(default_factory=RatingsRead)  # the ratings folder beside the results folder
    data_dir: Path | None = None  # train/data, where eval prompts' pictures are; None: beside the results folder


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

    @property
    def base_model(self) -> Scalar:
        """The base model the results name (meta's, else what the config block recorded)."""
        return self.hyperparameters.get("base_model")

    @property
    def losses(self) -> list[float]:
        """The training loss by logged step, when the results recorded it."""
        curve = self.doc.meta.training_loss if self.doc.meta else None
        return curve.loss if curve else []

    @property
    def rewards(self) -> list[float]:
        """GRPO's mean reward by logged step, when the results recorded it."""
        curve = self.doc.meta.training_loss if self.doc.meta else None
        return curve.reward or [] if curve else []


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
    ratings: RatingsRead = field(default_factory=RatingsRead)  # people's votes on the entries' completions
    thumbnails: Mapping[str, Thumbnail] = field(default_factory=dict)  # by thumbnail_key: pictures prompts showed


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


def repeated_by_label(doc: ResultsDoc) -> dict[str, float]:
    return {setting_label(figure.setting): figure.repeated_share for figure in diversity_figures(doc)}


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


def hyperparameter_rows(tables: Sequence[Mapping[str, Scalar]]) -> dict[str, list[Scalar]]:
    """Base model, the 14 haha keys in their order, then every other key sorted: one value per table."""
    extra = sorted({key for table in tables for key in table} - {*CONFIG_KEYS, "base_model"})
    return {key: [table.get(key) for table in tables] for key in ("base_model", *CONFIG_KEYS, *extra)}


def differing(rows: Mapping[str, Sequence[Scalar]]) -> list[str]:
    """The keys whose values read differently across the docs: what the reader came to see."""
    return [key for key, values in rows.items() if len({rounded_value(v) for v in values}) > 1]


def prompt_key(result: PromptResult) -> str:
    """What makes two configs' prompts the same prompt: the text, and the picture (path and bytes) when there is one,
    since a caption sweep asks one question of many pictures."""
    if result.image is None:
        return result.prompt
    return f"{result.prompt}\u0000{thumbnail_key(result.image, result.image_sha256)}"


def seed_of(doc: ResultsDoc, index: int) -> int:
    """The seed of the index-th completion: meta's list when present, else 1, 2, ... as eval.json defines."""
    seeds = doc.meta.seeds if doc.meta else []
    return seeds[index] if index < len(seeds) else index + 1


def repeated_flags(completions: Sequence[str]) -> list[bool]:
    """Which completions another seed also produced, word for word."""
    return [completions.count(text) > 1 for text in completions]


def parse_time(text: str | None) -> datetime | None:
    """An ISO 8601 time from meta; naive times are taken as UTC, unparsable ones as unknown."""
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def in_config_order(entries: Sequence[Entry]) -> list[Entry]:
    """By family, then number (010 after 009): the order train/config lists them, the same on every checkout."""
    return sorted(entries, key=lambda e: sort_key(f"{e.name}.yml"))
