"""Completions as ratings name them, and whether a vote still names a completion of the current results. Pure.

A vote counts only while its config's results file holds the very completion it rated: the same config hash and,
at its prompt, setting and seed, a completion with its sha256. A config that was run again (a new config hash)
leaves its old votes stale: kept in the file, never counted against text the rater did not see. A vote whose
completion is not there under the same hash was not cast on anything the pipeline generated.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from pipeline.formats.results import ResultsDoc, setting_key
from pipeline.ratings.lines import CellKey, Rating, RatingLine, completion_sha256

# What the sweep records per setting: the share of its completions that ran to max_new_tokens without ending.
ALL_CUT_OFF = 1.0


@dataclass(frozen=True)
class Cell:
    """One completion of one results file, with how it ends when the sweep recorded that for its setting."""

    config: str
    config_sha256: str | None
    prompt: str  # PromptResult.label: a caption question over two pictures is two prompts
    setting: dict[str, Any]
    seed: int
    text: str
    cut_off_share: float | None  # of its setting's completions that never stopped (None: not recorded)
    image: str | None = None  # the picture the prompt showed (its path under train/data), as the results recorded it
    image_sha256: str | None = None


def seed_index(doc: ResultsDoc, seed: int) -> int | None:
    """Where a seed's completion sits: meta's seed list when there is one, else seeds 1, 2, … in order."""
    seeds = doc.meta.seeds if doc.meta and doc.meta.seeds else None
    if seeds is None:
        return seed - 1
    return seeds.index(seed) if seed in seeds else None


def cells_of(name: str, doc: ResultsDoc) -> list[Cell]:
    """Every completion of a results file's sweep, in results order (prompt, setting, seed)."""
    config_sha256 = doc.meta.config_sha256 if doc.meta else None
    cut_off = {setting_key(q.setting): q.never_stopped_share for q in (doc.meta.quality if doc.meta else [])}
    seeds = doc.meta.seeds if doc.meta and doc.meta.seeds else None
    return [Cell(name, config_sha256, prompt.label, result.setting, seeds[i] if seeds and i < len(seeds) else i + 1,
                 text, cut_off.get(setting_key(result.setting)), prompt.image, prompt.image_sha256)
            for prompt in doc.results for result in prompt.settingsResults for i, text in enumerate(result.completions)]


def completion_at(doc: ResultsDoc, prompt: str, setting: Mapping[str, Any], seed: int) -> str | None:
    """The completion a results file holds at a prompt, setting and seed, or None."""
    wanted = setting_key(setting)
    index = seed_index(doc, seed)
    for found in doc.results:
        if found.label != prompt:
            continue
        for result in found.settingsResults:
            if setting_key(result.setting) == wanted and index is not None and 0 <= index < len(result.completions):
                return result.completions[index]
    return None


class Standing(StrEnum):
    COUNTED = "counted"
    STALE = "stale"  # its config was run again since: a warning, never counted
    UNKNOWN = "unknown"  # no such completion under that config hash: an error


@dataclass(frozen=True)
class Matched:
    standing: Standing
    reason: str = ""
    text: str = ""  # the rated completion, when counted


def match(line: RatingLine, docs: Mapping[str, ResultsDoc]) -> Matched:
    """Whether a vote names a completion of the current results (`docs` by config name)."""
    doc = docs.get(line.config)
    if doc is None:
        return Matched(Standing.UNKNOWN, f"no results file for {line.config}")
    current = doc.meta.config_sha256 if doc.meta else None
    if current != line.config_sha256:
        return Matched(Standing.STALE, f"rated {line.config} at config hash {str(line.config_sha256)[:12]}; its "
                                       f"results are now from {str(current)[:12]}: not counted")
    text = completion_at(doc, line.prompt, line.setting, line.seed)
    if text is None:
        return Matched(Standing.UNKNOWN, f"{line.config}'s results (same config hash) have no completion at this "
                                         "prompt, setting and seed")
    if completion_sha256(text) != line.completion_sha256:
        return Matched(Standing.UNKNOWN, f"{line.config}'s completion at this prompt, setting and seed has another "
                                         "sha256 under the same config hash")
    return Matched(Standing.COUNTED, text=text)


@dataclass(frozen=True)
class Vote:
    """A counted vote (not a skip) and the completion it rated."""

    line: RatingLine
    rating: Rating
    text: str


def counted_votes(lines: list[RatingLine], docs: Mapping[str, ResultsDoc]) -> list[Vote]:
    """The votes that count: cast on a current completion, a rating rather than a skip, the first of a rater's
    votes on a cell (a repeated vote is `haha validate`'s error, never counted twice)."""
    seen: set[tuple[str, CellKey]] = set()
    votes = []
    for line in lines:
        key = (line.rater, line.cell)
        first = key not in seen
        seen.add(key)
        if first and line.rating is not None and (found := match(line, docs)).standing is Standing.COUNTED:
            votes.append(Vote(line, line.rating, found.text))
    return votes
