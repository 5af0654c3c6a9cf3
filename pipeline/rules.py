"""The haha rules and the safety rules: pure functions of a loaded config and the settings.

Safety matters because a merged config runs on a GPU box that holds the Hub and W&B
secrets: nothing in a config may import code, fetch code, or read/write outside the repo.
"""

from __future__ import annotations

import posixpath
from pathlib import Path, PurePosixPath

from pipeline.configs import LoadedConfig
from pipeline.problems import Problem
from pipeline.settings import Settings

ADAPTERS = ("lora", "qlora")
# Keys that name a path the training job reads or writes: they must stay in the workspace.
WORKSPACE_PATH_KEYS = ("output_dir", "dataset_prepared_path", "deepspeed", "lora_model_dir",
                       "resume_from_checkpoint")
URL_PREFIXES = ("http://", "https://", "s3://", "gs://", "gcs://", "az://", "abfs://", "hf://", "ftp://")


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


def in_workspace(path_value: str, settings: Settings) -> bool:
    """Relative paths must stay below the run's workspace; absolute ones below the runner's `/workspace`."""
    path = PurePosixPath(path_value)
    if path.is_absolute():
        workspace = PurePosixPath(settings.data_mount).parent
        normal = PurePosixPath(posixpath.normpath(path_value))
        return workspace != PurePosixPath("/") and normal.is_relative_to(workspace)
    return not posixpath.normpath(path_value).startswith("..")


def check_haha_rules(config: LoadedConfig, settings: Settings, display: str) -> list[Problem]:
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
    if data.get("chat_template") != "chatml":
        problems.append(problem("chat_template", f"must be 'chatml', got {data.get('chat_template')!r}"))
    if data.get("adapter") not in ADAPTERS:
        problems.append(problem("adapter", f"must be one of {', '.join(ADAPTERS)}, got {data.get('adapter')!r}"))
    if not data.get("datasets"):
        problems.append(problem("datasets", "at least one dataset is required"))
    return problems


def check_safety(config: LoadedConfig, settings: Settings, display: str) -> list[Problem]:
    data = config.data

    def problem(key: str, message: str) -> Problem:
        return Problem(display, config.line_of(key), key, message)

    problems = []
    for plugin in data.get("plugins") or []:
        if plugin not in settings.allowed_plugins:
            problems.append(problem("plugins", f"plugin '{plugin}' imports arbitrary code and is not in "
                                               "[tool.haha] allowed_plugins"))
    if data.get("trust_remote_code") is True:
        base_model = str(data.get("base_model"))
        pinned = settings.trust_remote_code_models.get(base_model)
        revision = data.get("revision_of_model") or data.get("model_revision")
        if pinned is None:
            problems.append(problem("trust_remote_code", f"runs code from the Hub; '{base_model}' is not in "
                                                         "[tool.haha] trust_remote_code_models"))
        elif revision != pinned:
            problems.append(problem("trust_remote_code", f"'{base_model}' may run remote code only at its pinned "
                                                         f"revision: set revision_of_model: {pinned}"))
    for key in ("base_model", "base_model_config", "tokenizer_config"):
        if isinstance(data.get(key), str) and data[key].lower().startswith(("http://", "https://")):
            problems.append(problem(key, "URLs are refused: name a Hub repo id or a local path"))
    for key in WORKSPACE_PATH_KEYS:
        value = data.get(key)
        if isinstance(value, str) and (is_url(value) or not in_workspace(value, settings)):
            problems.append(problem(key, f"'{value}' points outside the workspace"))
    for index, dataset in enumerate(data.get("datasets") or []):
        if not isinstance(dataset, dict):
            continue
        path_value = dataset.get("path")
        if not isinstance(path_value, str):
            problems.append(problem(f"datasets[{index}].path", "a local JSONL path is required"))
        elif dataset_file(path_value, settings) is None:
            problems.append(problem(f"datasets[{index}].path",
                                    f"'{path_value}' is outside train/data; name data as "
                                    f"{settings.data_mount}/<file> with the file in train/data"))
    return problems
