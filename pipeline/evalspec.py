"""`train/eval/eval.json`: the prompts, generation settings and seed count of the sweep."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from pipeline.problems import Problem

GENERATION_KEYS = ("temperature", "top_p", "top_k", "max_new_tokens", "repetition_penalty")


class Setting(BaseModel):
    """One column of the sweep; `temperature: 0` means greedy decoding."""

    model_config = ConfigDict(extra="forbid")
    # int | float keeps eval.json's own spelling (0 stays 0), so results echo settings byte for byte.
    temperature: int | float = Field(ge=0)
    top_p: float | None = Field(default=None, gt=0, le=1)
    top_k: int | None = Field(default=None, ge=0)
    max_new_tokens: int | None = Field(default=None, ge=1)
    repetition_penalty: float | None = Field(default=None, gt=0)

    def as_dict(self) -> dict[str, Any]:
        """The settings object as written in eval.json (and echoed in results)."""
        return self.model_dump(exclude_none=True)


class EvalSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    prompts: list[str] = Field(min_length=1)
    settings: list[Setting] = Field(min_length=1)
    seedVariants: int = Field(ge=1, strict=True)

    @property
    def seeds(self) -> list[int]:
        return list(range(1, self.seedVariants + 1))


def _line_of(text: str, key: str) -> int | None:
    needle = f'"{key}"'
    for number, line in enumerate(text.splitlines(), start=1):
        if needle in line:
            return number
    return None


def check_eval(path: Path, display: str) -> tuple[EvalSpec | None, list[Problem]]:
    if not path.is_file():
        return None, [Problem(display, None, "eval.json", "file does not exist")]
    text = path.read_text(encoding="utf-8")
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        return None, [Problem(display, exc.lineno, "eval.json", f"not JSON: {exc.msg}")]
    try:
        return EvalSpec.model_validate(raw), []
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            loc = [str(part) for part in error["loc"]]
            key = loc[0] + "".join(f"[{part}]" if part.isdigit() else f".{part}" for part in loc[1:])
            message = error["msg"]
            if error["type"] == "extra_forbidden" and loc[0] == "settings":
                message = f"unknown generation key; allowed: {', '.join(GENERATION_KEYS)}"
            problems.append(Problem(display, _line_of(text, loc[-1] if not loc[-1].isdigit() else loc[0]), key,
                                    message))
        return None, problems


def load_eval(path: Path) -> EvalSpec:
    spec, problems = check_eval(path, str(path))
    if spec is None:
        raise ValueError("\n".join(str(p) for p in problems))
    return spec
