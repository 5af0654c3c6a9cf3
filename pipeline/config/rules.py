"""The haha rules, and the path helpers the config policy (policy.py) and the effective config share.

Pure functions of a loaded config and the settings.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from pipeline.config.distributed import distributed_problems
from pipeline.config.generation import generation_problems
from pipeline.config.kinds import SFT, UnknownKindError, kind_of
from pipeline.config.lineage import parent_problems
from pipeline.config.loading import LoadedConfig
from pipeline.config.policy_table import PATHS, KeyClass
from pipeline.config.prompt_loss import KEY as PROMPT_LOSS_KEY
from pipeline.config.requirements import gpu_environment, missing_packages, needs_of
from pipeline.core.naming import is_hub_id
from pipeline.core.numbers import as_number
from pipeline.core.problems import Problem
from pipeline.core.settings import Settings
from pipeline.models.vision_twin import is_vision_config

ADAPTERS = ("lora", "qlora")
URL_PREFIXES = ("http://", "https://", "s3://", "gs://", "gcs://", "az://", "abfs://", "hf://", "ftp://", "file://")
# Every config key holding a list of dataset entries (the policy's DATASETS class).
DATASET_LIST_KEYS = tuple(key for key, kind in PATHS.items() if kind is KeyClass.DATASETS)


@dataclass(frozen=True)
class DatasetEntry:
    """One entry of one of the config's dataset lists (`datasets`, `test_datasets`, `pretraining_dataset`)."""

    list_key: str
    index: int
    entry: dict[str, Any]

    @property
    def where(self) -> str:
        """`datasets[0]`: the entry's dotted key, as problems and overrides name it."""
        return f"{self.list_key}[{self.index}]"

    @property
    def path(self) -> str | None:
        value = self.entry.get("path")
        return value if isinstance(value, str) else None


def dataset_entries(data: Mapping[str, Any]) -> Iterator[DatasetEntry]:
    """Every mapping in every dataset list, in config order: the one walk every stage shares."""
    for list_key in DATASET_LIST_KEYS:
        entries = data.get(list_key)
        for index, entry in enumerate(entries if isinstance(entries, list) else []):
            if isinstance(entry, dict):
                yield DatasetEntry(list_key, index, entry)


def is_url(value: str) -> bool:
    return value.lower().startswith(URL_PREFIXES)


def dataset_file(path_value: str, settings: Settings) -> Path | None:
    """Map a config's dataset path onto `train/data`; None when it would land anywhere else.

    Configs name data as `<data_mount>/<file>` (the GPU runner's mount); `train/data/<file>`
    relative to the repo is accepted too. `..` tricks are resolved before the check.
    """
    mount = settings.data_mount.rstrip("/") + "/"
    if path_value.startswith(mount):
        relative = path_value[len(mount):]
    elif not PurePosixPath(path_value).is_absolute() and not is_url(path_value):
        relative = posixpath.relpath(posixpath.normpath(path_value), "train/data")
    else:
        return None
    data_dir = settings.data_dir.resolve()
    candidate = (data_dir / relative).resolve()
    return candidate if candidate.is_relative_to(data_dir) else None


def is_hub_dataset(value: Any, settings: Settings) -> bool:
    """A dataset `path` Axolotl would fetch from the Hub: an `org/name` id, not a name for a file in train/data."""
    return isinstance(value, str) and is_hub_id(value) and dataset_file(value, settings) is None


def in_workspace(path_value: str, settings: Settings) -> bool:
    """Relative paths must stay below the run's workspace; absolute ones below the runner's `/workspace`."""
    path = PurePosixPath(path_value)
    if path.is_absolute():
        workspace = PurePosixPath(settings.data_mount).parent
        normal = PurePosixPath(posixpath.normpath(path_value))
        return workspace != PurePosixPath("/") and normal.is_relative_to(workspace)
    return PurePosixPath(posixpath.normpath(path_value)).parts[:1] != ("..",)


def chat_template_problems(config: LoadedConfig, settings: Settings, display: str) -> list[Problem]:
    """The template a config trains with is one the repo names in `[tool.haha] chat_templates`.

    A mistral-common tokenizer owns its template: Axolotl refuses `chat_template` beside it ("Setting
    chat_template is not supported with mistral-common tokenizer"), so such a config passes without one.
    """
    template = config.data.get("chat_template")
    if template is None and config.data.get("tokenizer_use_mistral_common"):
        return []
    allowed = ", ".join(settings.chat_templates) or "(none)"
    if template in settings.chat_templates:
        return []
    got = "none set" if template is None else f"got {template!r}"
    return [Problem(display, config.line_of("chat_template"), "chat_template",
                    f"must be one of the repo's chat templates ([tool.haha] chat_templates: {allowed}), {got}; a "
                    "repo that trains with others names them there")]


# Axolotl's multimodal usage (its docs' "hyperparams you'll need", and "these 3 lines are needed for now to handle
# vision chat templates w images" in its examples): without them its trainer prepares image rows as text or drops the
# columns the collator needs, on the GPU runner, after the model has loaded.
VISION_KEYS = {"skip_prepare_dataset": True, "remove_unused_columns": False, "sample_packing": False}


def vision_problems(config: LoadedConfig, display: str) -> list[Problem]:
    """A `processor_type` config sets the keys Axolotl's multimodal training needs, at each key's line."""
    if not is_vision_config(config.data):
        return []
    problems = []
    for key, needed in VISION_KEYS.items():
        if bool(config.data.get(key)) is not needed:
            line = config.line_of(key) if key in config.data else config.line_of("processor_type")
            problems.append(Problem(display, line, key, f"a vision config (processor_type) needs `{key}: "
                                    f"{str(needed).lower()}`; Axolotl: \"these 3 lines are needed for now to handle "
                                    "vision chat templates w images\" (skip_prepare_dataset: true, "
                                    "remove_unused_columns: false, sample_packing: false)"))
    return problems


def check_haha_rules(config: LoadedConfig, settings: Settings, display: str) -> list[Problem]:
    """The repo's conventions: the pipeline names runs, the repo names the project, ChatML LoRA only."""
    data = config.data

    def problem(key: str, message: str) -> Problem:
        return Problem(display, config.line_of(key), key, message)

    problems = []
    if data.get("wandb_name") not in (None, ""):
        problems.append(problem("wandb_name", "leave blank: the pipeline names the W&B run after the config's "
                                              "basename"))
    if data.get("wandb_project") != settings.wandb_project:
        problems.append(problem("wandb_project", f"must be '{settings.wandb_project}' (the repo setting), "
                                                 f"got {data.get('wandb_project')!r}"))
    problems += chat_template_problems(config, settings, display)
    problems += vision_problems(config, display)
    if data.get("adapter") not in ADAPTERS:
        problems.append(problem("adapter", f"must be one of {', '.join(ADAPTERS)}, got {data.get('adapter')!r}"))
    if not data.get("datasets"):
        problems.append(problem("datasets", "at least one dataset is required"))
    if needs := needs_of(data):  # the environment is resolved (a second) only when a config needs more
        problems += [problem(key, message) for key, message in missing_packages(needs, gpu_environment(settings))]
    problems += parent_problems(config, display)
    problems += distributed_problems(config, settings, display)
    weight = data.get(PROMPT_LOSS_KEY)
    if weight is not None and ((number := as_number(weight)) is None or not 0 <= number <= 1):
        problems.append(problem(PROMPT_LOSS_KEY, "must be a number from 0 to 1 (the prompt tokens' weight in the "
                                                 f"loss), got {weight!r}"))
    try:
        kind_name: str | None = kind_of(data).name
    except UnknownKindError as exc:
        kind_name = None
        problems.append(problem(next((k for k in ("rl", "reward_model", "process_reward_model") if data.get(k)), "rl"),
                                str(exc)))
    if weight is not None and kind_name not in (None, SFT.name):
        problems.append(problem(PROMPT_LOSS_KEY, f"weights the prompt's tokens in an SFT loss; a {kind_name} config "
                                                 "has no such loss (its plugin would never run)"))
    return problems + generation_problems(config, display, kind_name)
