"""How one completion is drawn: the one list of generation parameters.

eval.json's settings objects, the sampler's rows and the results file's settings all are
(or carry) a `SamplingParams`, so a new parameter is added here once. Parameters left unset
are off, never a library default: a results file says exactly how its text was made.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, Field

DEFAULT_MAX_NEW_TOKENS = 64
# Bounds that keep a merged eval.json from holding the GPU runner for days.
MAX_NEW_TOKENS = 4_096
MAX_TEMPERATURE = 100
MAX_REPETITION_PENALTY = 100.0


class SamplingParams(BaseModel):
    """`temperature: 0` is greedy; int | float keeps eval.json's own spelling (0 stays 0) in results."""

    temperature: int | float = Field(ge=0, le=MAX_TEMPERATURE)
    top_p: float | None = Field(default=None, gt=0, le=1)
    top_k: int | None = Field(default=None, ge=0)
    max_new_tokens: int | None = Field(default=None, ge=1, le=MAX_NEW_TOKENS)
    repetition_penalty: float | None = Field(default=None, gt=0, le=MAX_REPETITION_PENALTY)

    def params(self) -> SamplingParams:
        """The generation parameters alone, whatever subclass (a results setting with completions) holds them."""
        return SamplingParams.model_validate(self.model_dump(include=set(GENERATION_KEYS)))

    def as_dict(self) -> dict[str, Any]:
        """The parameters as eval.json writes them: unset ones left out."""
        return self.model_dump(include=set(GENERATION_KEYS), exclude_none=True)

    def new_tokens(self, cap: int | None = None) -> int:
        """`cap` (a command's `--max-new-tokens`) wins, else this setting's own, else the default."""
        return cap or self.max_new_tokens or DEFAULT_MAX_NEW_TOKENS


GENERATION_KEYS = tuple(SamplingParams.model_fields)


@dataclass(frozen=True)
class Request:
    """One completion to make; unset parameters are off (no hidden top_k=50 as in `generate`)."""

    prompt_ids: tuple[int, ...]
    seed: int
    params: SamplingParams
    max_new_tokens: int  # the params' own, or a command's cap: resolved once by the planner
