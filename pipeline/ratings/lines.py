"""A ratings file `train/ratings/<rater>.jsonl`: one line per vote a person cast on one completion, typed.

A line names its completion the way results files hold it (config, prompt, setting, seed) and pins it twice: the
completion's sha256 and the results file's config hash. The text itself stays in the results file, so a line is
small, reviewable in a pull request, and cannot carry a completion the pipeline never generated.

Each rater writes only their own file, and the rater's name is in every line as well as in the file's name, so a
file that holds two raters' votes is refused by `haha validate` (check.py). Names are lower case: on a
case-insensitive disk `Alice.jsonl` and `alice.jsonl` would be one file shared by two raters.
"""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime
from enum import IntEnum
from pathlib import Path
from typing import Annotated

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, field_serializer

from pipeline.core.naming import is_basename
from pipeline.formats.results import Scalar, setting_key

RATINGS = "ratings"  # the folder beside the results folder: train/ratings beside train/results
RATER_NAME = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,38}[a-z0-9])?\Z")  # a GitHub login, lower case
# A base-model reference's results (`base/<stem>.json`): the stem as evaluating.py makes it.
REFERENCE_NAME = re.compile(r"base/[A-Za-z0-9][A-Za-z0-9._-]{0,120}\Z")
RATER_RULE = "1 to 40 lower-case letters, digits and inner hyphens (a GitHub login in lower case)"


class Rating(IntEnum):
    """The caption contest's three ratings, on the 1-3 scale the human score is the mean of."""

    UNFUNNY = 1
    SOMEWHAT_FUNNY = 2
    FUNNY = 3


def is_rater_name(value: str) -> bool:
    return RATER_NAME.match(value) is not None


def _rater(value: str) -> str:
    if not is_rater_name(value):
        raise ValueError(f"not a rater name: {RATER_RULE}")
    return value


def _rated_config(value: str) -> str:
    """A config's basename or a base reference's `base/<stem>`: the only names that lead to a results file, so a
    line can never make a reader open a path of its choosing."""
    if not (is_basename(value) or REFERENCE_NAME.match(value)):
        raise ValueError("must be a config's basename (haha-llama-3-8b-lora-001) or a base reference (base/<stem>)")
    return value


RaterName = Annotated[str, AfterValidator(_rater)]
RatedConfig = Annotated[str, AfterValidator(_rated_config)]
Sha256 = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]  # pydantic's regex engine: `$` is the very end


class RatingLine(BaseModel):
    """One vote. `rating` null is a skip: the completion was shown and passed over, and is never shown again."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    rater: RaterName
    prompt: str
    completion_sha256: Sha256
    config: RatedConfig
    config_sha256: str | None  # the results file's meta.config_sha256 (None: an old file that has no meta)
    setting: dict[str, Scalar]
    seed: int = Field(ge=1)
    rating: Rating | None
    time: AwareDatetime

    @field_serializer("time")
    def _utc(self, moment: datetime) -> str:
        return moment.astimezone(UTC).isoformat(timespec="seconds")

    @property
    def cell(self) -> CellKey:
        return cell_key(self.config, self.prompt, self.setting, self.seed)

    def to_line(self) -> str:
        return self.model_dump_json() + "\n"


CellKey = tuple[str, str, str, int]  # config, prompt, setting_key(setting), seed: one completion of one sweep


def cell_key(config: str, prompt: str, setting: dict[str, Scalar], seed: int) -> CellKey:
    return config, prompt, setting_key(setting), seed


def completion_sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def ratings_folder(results_dir: Path) -> Path:
    """The ratings of a results folder's completions sit beside it: train/ratings, or scratch/ratings for the
    smoke runs' scratch/results."""
    return results_dir.parent / RATINGS


def ratings_file(folder: Path, rater: str) -> Path:
    """`<folder>/<rater>.jsonl`; the name is checked first, so it can only name a file inside the folder."""
    return folder / f"{_rater(rater)}.jsonl"
