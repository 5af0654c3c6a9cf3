"""A config's size on its runner class: the estimate (plan/estimate.py) fed with what can be read here.

The base model's shape comes from its config.json when that is at hand (a local folder, the HF cache, the
Hub when online), else from the size in its name; the training tokens from the rows validation counted.
Validation refuses a config that fits no class, or asks for flash-attention on a class without it; `haha
plan` and `haha doctor` show the same figures.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from pipeline.config.distributed import zero_stage
from pipeline.config.loading import LoadedConfig
from pipeline.core.problems import Problem
from pipeline.core.settings import Settings
from pipeline.models.source import base_model_files
from pipeline.plan.estimate import Estimate, Shape, estimate, shape_from_config, shape_from_size
from pipeline.plan.runners import Assignment, load_in, params_in_billions, runner_for

FLASH = "flash_attention_2"


@cache
def _shape_from_folder(folder: str) -> Shape | None:
    try:
        return shape_from_config(json.loads((Path(folder) / "config.json").read_text()))
    except (OSError, ValueError):
        return None


def model_shape(data: Mapping[str, Any], read_files: bool = True) -> Shape | None:
    """The base model's shape: config.json when reachable (and `read_files`), else the size its name states; None
    when neither. The planning job runs without the Hub client, so it sizes by name."""
    files = base_model_files(dict(data)) if read_files else None
    if files is not None and files.folder is not None and (shape := _shape_from_folder(str(files.folder))):
        return shape
    size = params_in_billions(str(data.get("base_model") or ""))
    return shape_from_size(size) if size else None


@dataclass(frozen=True)
class Sizing:
    assignment: Assignment
    estimate: Estimate | None  # None when the model's size cannot be told
    fitting: tuple[str, ...]  # the classes it fits on, by name


def size_config(basename: str, data: Mapping[str, Any], settings: Settings, tokens: int | None = None,
                read_files: bool = True, tokens_bound: bool = False) -> Sizing:
    """The config on its class and on every class; `tokens` one epoch trains on (`tokens_bound`: an upper bound)."""
    assignment = runner_for(basename, data, settings.runners)
    shape = model_shape(data, read_files)
    if shape is None:
        return Sizing(assignment, None, ())
    stage = zero_stage(data.get("deepspeed"), settings.root)
    model = str(data.get("base_model") or "")

    def on(runner: Any) -> Estimate:
        return estimate(data, model, shape, load_in(data), runner, stage, tokens, tokens_bound)

    fitting = tuple(name for name, runner in settings.runners.classes.items() if on(runner).fits(runner))
    return Sizing(assignment, on(assignment.runner), fitting)


def wants_flash_attention(data: Mapping[str, Any]) -> bool:
    return bool(data.get("flash_attention")) or data.get("attn_implementation") == FLASH


def sizing_problems(config: LoadedConfig, settings: Settings, display: str, sizing: Sizing) -> list[Problem]:
    """A config its runner class cannot hold, or flash-attention on a class without it."""
    data = config.data
    name, runner = sizing.assignment.name, sizing.assignment.runner
    problems = []
    if wants_flash_attention(data) and not runner.flash_attn:
        key = "flash_attention" if data.get("flash_attention") else "attn_implementation"
        problems.append(Problem(display, config.line_of(key), key,
                                f"asks for flash-attention, but runner class '{name}' is declared without flash-attn "
                                f"([tool.haha.runners.classes.{name}] flash_attn = false); set attn_implementation: "
                                "sdpa, or plan it onto a class that has flash-attn (haha_runner or a rule)"))
    if (too_big := does_not_fit(sizing)) is not None:
        where = "load_in_4bit" if "load_in_4bit" in data else "base_model"
        problems.append(Problem(display, config.line_of(where), where, too_big))
    return problems


def does_not_fit(sizing: Sizing) -> str | None:
    """Why the config does not fit its class, with the numbers and the classes it fits; None when it fits."""
    found, name, runner = sizing.estimate, sizing.assignment.name, sizing.assignment.runner
    if found is None or found.fits(runner):
        return None
    others = [other for other in sizing.fitting if other != name]
    fix = (f"class {', '.join(others)} fits: set haha_runner: {others[0]} or a [tool.haha.runners] rule" if others
           else "no class fits: load it in 4-bit, shorten sequence_len or micro_batch_size, shard it over GPUs "
                "(DeepSpeed ZeRO-3, FSDP), or declare a bigger class")
    return (f"{found.describe()}; class {name} has {runner.gpu_memory_gb:g} GB a GPU (eval ~{found.eval_gb:.0f} GB); "
            f"{fix}")

