"""`train/eval/eval.json`: the prompts, generation settings and seed count of the sweep.

A prompt is text, or text with a picture (`{"text": "...", "image": "cartoons/03.png"}`, the path relative to
train/data) for a config that trains on images. The format is pure; evaluate/images.py opens the pictures.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    StringConstraints,
    Tag,
    ValidationError,
    field_validator,
)

from pipeline.core.problems import Problem
from pipeline.core.strict_json import StrictJsonError, loads_strict
from pipeline.core.yaml_text import key_lines, line_of
from pipeline.formats.sampling import GENERATION_KEYS, SamplingParams

# Bounds that keep a merged eval.json from holding the GPU runner for days (every value is finite: JSON's
# Infinity and NaN are refused when the file is read); the generation parameters' own are in params.py.
MAX_SEEDS = 1_000


class Setting(SamplingParams):
    """One column of the sweep, as eval.json writes it.

    Strict: a quoted "0.7" or a `true` in eval.json is a mistake to report, not a number to coerce.
    """

    model_config = ConfigDict(extra="forbid", strict=True)


# each prompt is kept verbatim, but must say something
PromptText = Annotated[str, StringConstraints(pattern=r"\S")]


class ImagePrompt(BaseModel):
    """A prompt with a picture: the model sees the image and the text in one user turn, as it trained."""

    model_config = ConfigDict(extra="forbid", strict=True)
    text: PromptText
    image: Annotated[str, StringConstraints(min_length=1)]  # relative to train/data, checked by data/images.py


PROMPT_SHAPES = 'a prompt is a string, or {"text": "...", "image": "a path under train/data"}'
# The two shapes of a prompt, told apart by JSON type; the tags never reach a message (_problem drops them).
PROMPT_TAGS = ("text", "picture")
Prompt = Annotated[Annotated[PromptText, Tag("text")] | Annotated[ImagePrompt, Tag("picture")],
                   Discriminator(lambda value: "text" if isinstance(value, str) else "picture")]


class EvalSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    prompts: list[Prompt] = Field(min_length=1)
    settings: list[Setting] = Field(min_length=1)
    seedVariants: int = Field(ge=1, le=MAX_SEEDS, strict=True)
    # A sweep in a task file other than eval.json names its kind, and may limit the configs it applies to.
    kind: Literal["sweep"] | None = None
    configs: list[str] | None = None

    @field_validator("settings")
    @classmethod
    def _settings_differ(cls, settings: list[Setting]) -> list[Setting]:
        seen: dict[str, int] = {}
        for index, setting in enumerate(settings):
            first = seen.setdefault(setting.model_dump_json(exclude_none=True), index)
            if first != index:
                raise ValueError(f"settings[{index}] repeats settings[{first}]: the same completions twice")
        return settings

    @property
    def seeds(self) -> list[int]:
        return list(range(1, self.seedVariants + 1))

    @property
    def texts(self) -> list[str]:
        """Each prompt's text: what results files record as `prompt`."""
        return [p.text if isinstance(p, ImagePrompt) else p for p in self.prompts]

    @property
    def images(self) -> list[str | None]:
        """Each prompt's picture as eval.json names it, None for a text prompt."""
        return [p.image if isinstance(p, ImagePrompt) else None for p in self.prompts]


def _problem(error: Any, lines: dict[str, int], display: str, model: type[EvalSpec]) -> Problem:
    raw = list(error["loc"])
    if raw[:1] == ["prompts"] and len(raw) > 2 and raw[2] in PROMPT_TAGS:  # prompts[i].<tag>...: the tag is no key
        del raw[2]
    loc = [str(part) for part in raw]
    if error["type"] in ("int_type", "float_type") and loc[-1] in ("int", "float"):
        loc, error = loc[:-1], {**error, "msg": "Input should be a number"}  # the int | float union's two halves
    key = "".join(f"[{part}]" if part.isdigit() else f".{part}" for part in loc).lstrip(".") or "eval.json"
    message = error["msg"]
    if error["type"] == "extra_forbidden":
        allowed = {"settings": GENERATION_KEYS, "prompts": tuple(ImagePrompt.model_fields)}.get(
            loc[0], tuple(model.model_fields))
        message = f"unknown key; allowed: {', '.join(allowed)}"
    elif error["type"] == "string_pattern_mismatch":
        message = "prompt is blank"
    elif error["type"] == "model_type" and loc[:1] == ["prompts"]:
        message = PROMPT_SHAPES
    elif error["type"] == "model_type" and not loc:
        message = "must be a JSON object with prompts, settings and seedVariants"
    return Problem(display, line_of(lines, key), key, message)


SpecT = TypeVar("SpecT", bound=EvalSpec)


def check_eval(path: Path, display: str, model: type[SpecT] = EvalSpec) -> tuple[SpecT | None, list[Problem]]:  # type: ignore[assignment]
    """The parsed spec, or None and a problem per mistake, each at its line in eval.json.

    `model` is the sweep's spec or one that extends it (best-of-N adds `n` and `rewardModel`).
    """
    if not path.is_file():
        return None, [Problem(display, None, "eval.json", "file does not exist")]
    data = path.read_bytes()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        return None, [Problem(display, data[: exc.start].count(b"\n") + 1, "eval.json",
                              f"not UTF-8 text (byte 0x{data[exc.start]:02x}); save the file as UTF-8")]
    try:
        raw = loads_strict(text)
    except json.JSONDecodeError as exc:
        return None, [Problem(display, exc.lineno, "eval.json", f"not JSON: {exc.msg}")]
    except StrictJsonError as exc:
        return None, [Problem(display, line_of(key_lines(text), exc.key) if exc.key else None,
                              exc.key or "eval.json", exc.message)]
    except RecursionError:
        return None, [Problem(display, None, "eval.json", "refused: nested too deeply")]
    try:
        return model.model_validate(raw), []
    except ValidationError as exc:
        lines = key_lines(text)
        return None, list(dict.fromkeys(_problem(error, lines, display, model) for error in exc.errors()))


def load_eval(path: Path) -> EvalSpec:
    spec, problems = check_eval(path, str(path))
    if spec is None:
        raise ValueError("\n".join(str(p) for p in problems))
    return spec


@dataclass(frozen=True, order=True)
class Cell:
    """One completion of the sweep, by position: prompt index, settings index, seed number."""

    prompt: int
    setting: int
    seed: int


def sweep_cells(spec: EvalSpec) -> list[Cell]:
    """All cells in results-file order: prompts, then settings, then seeds."""
    return [Cell(p, s, seed) for p in range(len(spec.prompts)) for s in range(len(spec.settings))
            for seed in spec.seeds]


def sweep_cost(spec: EvalSpec, n: int = 1) -> tuple[int, int]:
    """Cells and the most new tokens they generate, `n` completions per cell (best-of-N's candidates)."""
    per_setting = len(spec.prompts) * spec.seedVariants
    return per_setting * len(spec.settings), sum(per_setting * n * s.new_tokens() for s in spec.settings)


SAMPLE_PROMPTS = 3
SAMPLE_SEED = 1


def sample_cells(spec: EvalSpec) -> list[Cell]:
    """The first prompts at the lowest and highest setting, seed 1: what a run's closing tables show."""
    settings = sorted({0, len(spec.settings) - 1})
    return [Cell(p, s, SAMPLE_SEED) for p in range(min(SAMPLE_PROMPTS, len(spec.prompts))) for s in settings]
