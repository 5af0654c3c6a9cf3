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
URL_PREFIXES = ("http://", "https://", "s3://", "gs://", "gcs://", "az://", "abfs://", "hf://", "ftp://", "file://")
# Keys naming where the model, its config or its tokenizer come from; with trust_remote_code each may run code.
MODEL_SOURCE_KEYS = ("base_model", "base_model_config", "tokenizer_config")
# Lists of datasets a run reads: both must come from train/data.
# Every config key holding a list of dataset entries; each entry's path must be a file in train/data.
DATASET_LIST_KEYS = ("datasets", "test_datasets", "pretraining_dataset")


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
    return PurePosixPath(posixpath.normpath(path_value)).parts[:1] != ("..",)


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
    if data.get("chat_template") != "chatml":
        problems.append(problem("chat_template", f"must be 'chatml', got {data.get('chat_template')!r}"))
    if data.get("adapter") not in ADAPTERS:
        problems.append(problem("adapter", f"must be one of {', '.join(ADAPTERS)}, got {data.get('adapter')!r}"))
    if not data.get("datasets"):
        problems.append(problem("datasets", "at least one dataset is required"))
    return problems


def _plugin_problems(config: LoadedConfig, settings: Settings) -> list[tuple[str, str]]:
    plugins = config.data.get("plugins")
    names = [plugins] if isinstance(plugins, str) else plugins if isinstance(plugins, list) else []
    return [(f"plugins[{index}]" if isinstance(plugins, list) else "plugins",
             f"plugin '{plugin}' imports arbitrary code and is not in [tool.haha] allowed_plugins")
            for index, plugin in enumerate(names) if plugin not in settings.allowed_plugins]


def _remote_code_problems(config: LoadedConfig, settings: Settings) -> list[tuple[str, str]]:
    """`trust_remote_code` runs the Hub repo's Python on the box that holds the secrets: allow-listed models
    at their pinned revision only, and the config and tokenizer must come from that same repo."""
    data = config.data
    if data.get("trust_remote_code") in (None, False):
        return []
    base_model = str(data.get("base_model"))
    pinned = settings.trust_remote_code_models.get(base_model)
    if pinned is None:
        return [("trust_remote_code", f"runs code from the Hub; '{base_model}' is not in [tool.haha] "
                                      "trust_remote_code_models")]
    found = []
    # `model_revision` is Axolotl's alias of `revision_of_model`.
    if (data.get("revision_of_model") or data.get("model_revision")) != pinned:
        found.append(("trust_remote_code", f"'{base_model}' may run remote code only at its pinned revision: set "
                                           f"revision_of_model: {pinned}"))
    for key in MODEL_SOURCE_KEYS[1:]:
        if data.get(key) not in (None, base_model):
            found.append((key, f"with trust_remote_code it must be unset or '{base_model}', the allow-listed model"))
    return found


def _path_problems(config: LoadedConfig, settings: Settings) -> list[tuple[str, str]]:
    """Model sources must not be URLs; outputs stay in the workspace; datasets come from train/data."""
    data = config.data
    found = [(key, "URLs are refused: name a Hub repo id or a local path")
             for key in MODEL_SOURCE_KEYS if isinstance(data.get(key), str) and is_url(data[key])]
    for key in WORKSPACE_PATH_KEYS:
        value = data.get(key)
        if isinstance(value, str) and (is_url(value) or not in_workspace(value, settings)):
            found.append((key, f"'{value}' points outside the workspace"))
    for list_key in DATASET_LIST_KEYS:
        entries = data.get(list_key)
        if isinstance(entries, str):
            found.append((list_key, f"'{entries}' would be fetched from the Hub; list entries with a path in "
                                    "train/data instead"))
        for index, dataset in enumerate(entries if isinstance(entries, list) else []):
            if isinstance(dataset, dict):
                found += _dataset_problems(f"{list_key}[{index}]", dataset, settings)
    return found


def _dataset_problems(where: str, dataset: dict[str, object], settings: Settings) -> list[tuple[str, str]]:
    path_value = dataset.get("path")
    found = []
    if not isinstance(path_value, str):
        found.append((f"{where}.path", "a local JSONL path is required"))
    elif is_url(path_value):
        found.append((f"{where}.path", f"URLs are refused: put the file in train/data and name it "
                                       f"{settings.data_mount}/<file>"))
    elif dataset_file(path_value, settings) is None:
        found.append((f"{where}.path", f"'{path_value}' is outside train/data; name data as "
                                       f"{settings.data_mount}/<file> with the file in train/data"))
    if "data_files" in dataset:
        found.append((f"{where}.data_files", "refused: name the JSONL file itself in path"))
    if dataset.get("trust_remote_code") not in (None, False):
        found.append((f"{where}.trust_remote_code", "refused: it runs a dataset's loading script"))
    return found


# Keys that make Axolotl push to the Hub by itself, with the runner's token, outside `haha publish`.
SELF_PUSH_KEYS = ("hub_model_id", "push_dataset_to_hub", "hub_strategy")


def _self_push_problems(config: LoadedConfig) -> list[tuple[str, str]]:
    return [(key, "refused: Axolotl would push to the Hub on its own; the pipeline publishes every adapter as "
                  "<org>/<basename>") for key in SELF_PUSH_KEYS if config.data.get(key) not in (None, "")]


def check_safety(config: LoadedConfig, settings: Settings, display: str) -> list[Problem]:
    """Nothing in a config may import code, fetch code, push by itself, or read/write outside the repo's places."""
    found = _plugin_problems(config, settings) + _remote_code_problems(config, settings)
    found += _path_problems(config, settings) + _self_push_problems(config)
    return [Problem(display, config.line_of(key), key, message) for key, message in found]
