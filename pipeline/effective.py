"""The effective config: what Axolotl actually runs for a repo config, as a pure function.

The repo config stays as people wrote it; the pipeline fills in what it owns (run name,
data location, per-run paths) and, for `--smoke`, swaps in the tiny base model and
CPU-safe settings. Hyperparameters are never changed silently: every change is returned
as an `Override` so the caller can log it.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline.rules import DATASET_LIST_KEYS, dataset_file
from pipeline.secrets import scrub_config
from pipeline.settings import Settings

SMOKE_MAX_STEPS = 10
# Settings that need a GPU (or bitsandbytes/flash-attn) and what a CPU smoke run uses instead.
SMOKE_SETTINGS: dict[str, Any] = {
    "load_in_8bit": False,
    "load_in_4bit": False,
    "bf16": False,
    "fp16": False,
    "tf32": False,
    "flash_attention": False,
    "attn_implementation": "eager",
    "sample_packing": False,
    "gradient_checkpointing": False,
    "optimizer": "adamw_torch",
    "lora_mlp_kernel": False,
    "lora_qkv_kernel": False,
    "lora_o_kernel": False,
    "lora_embedding_kernel": False,
    "max_steps": SMOKE_MAX_STEPS,
    "num_epochs": 1,
    "save_steps": 5,
    "saves_per_epoch": None,
    "evals_per_epoch": None,
    "eval_steps": None,
    "val_set_size": 0,
    "micro_batch_size": 2,
    "gradient_accumulation_steps": 1,
    "dataloader_num_workers": 0,
    "deepspeed": None,
    "fsdp": None,
    "fsdp_config": None,
    "use_tensorboard": False,
}
# Keys tied to the real base model that make no sense for the tiny one.
SMOKE_DROPPED = ("base_model_config", "tokenizer_config", "revision_of_model", "model_revision", "hub_model_id",
                 "push_dataset_to_hub", "hf_use_auth_token")


@dataclass(frozen=True)
class Override:
    key: str
    old: Any
    new: Any
    reason: str

    def __str__(self) -> str:
        return f"{self.key}: {self.old!r} -> {self.new!r} ({self.reason})"


@dataclass(frozen=True)
class RunPlan:
    """Where one config's run lives; paths are absolute so the child process can run anywhere."""

    adapter_dir: Path
    prepared_dir: Path
    data_dir: Path
    wandb_mode: str  # online | offline | disabled
    base_model: str | None = None  # set for smoke runs: the tiny model's folder


def _set(config: dict[str, Any], key: str, value: Any, reason: str, overrides: list[Override]) -> None:
    old = config.get(key)
    if value is None:
        if key in config:
            del config[key]
            if old is not None:
                overrides.append(Override(key, old, None, reason))
        return
    config[key] = value
    if old != value:
        overrides.append(Override(key, old, value, reason))


def _map_datasets(config: dict[str, Any], settings: Settings, data_dir: Path, overrides: list[Override]) -> None:
    for list_key in DATASET_LIST_KEYS:
        entries = config.get(list_key)
        for index, dataset in enumerate(entries if isinstance(entries, list) else []):
            path_value = dataset.get("path") if isinstance(dataset, dict) else None
            if not isinstance(path_value, str):
                continue
            repo_file = dataset_file(path_value, settings)
            if repo_file is None:
                raise ValueError(f"{list_key}[{index}].path '{path_value}' is outside train/data")
            mapped = str(data_dir / repo_file.relative_to(settings.data_dir.resolve()))
            if mapped != path_value:
                dataset["path"] = mapped
                overrides.append(Override(f"{list_key}[{index}].path", path_value, mapped, "data mount"))


def effective_config(
    config: dict[str, Any], basename: str, settings: Settings, plan: RunPlan
) -> tuple[dict[str, Any], list[Override]]:
    """The config Axolotl runs, and the list of every key the pipeline changed."""
    out = copy.deepcopy(config)
    overrides: list[Override] = []
    _map_datasets(out, settings, plan.data_dir, overrides)
    _set(out, "output_dir", str(plan.adapter_dir), "per-run workspace", overrides)
    _set(out, "dataset_prepared_path", str(plan.prepared_dir), "per-run workspace", overrides)
    if plan.wandb_mode == "disabled":
        for key in ("wandb_project", "wandb_entity", "wandb_name", "wandb_mode"):
            _set(out, key, None, "W&B disabled", overrides)
    else:
        _set(out, "wandb_name", basename, "the run is named after the config", overrides)
        _set(out, "wandb_project", settings.wandb_project, "repo setting", overrides)
        _set(out, "wandb_entity", settings.wandb_entity or None, "repo setting", overrides)
        _set(out, "wandb_mode", plan.wandb_mode, "tracking mode", overrides)
    # A cancelled job leaves checkpoints; the next run of the same config picks them up.
    _set(out, "auto_resume_from_checkpoints", True, "resume interrupted runs", overrides)
    if plan.base_model is not None:
        _apply_smoke(out, plan.base_model, overrides)
    return scrub_config(out), overrides


def _apply_smoke(config: dict[str, Any], base_model: str, overrides: list[Override]) -> None:
    """CPU-safe settings on the tiny model; data, format, sequence_len, LoRA shape and tokens stay."""
    _set(config, "base_model", base_model, "smoke: tiny base model", overrides)
    for key in SMOKE_DROPPED:
        _set(config, key, None, "smoke: tied to the real base model", overrides)
    if config.get("adapter") == "qlora":
        _set(config, "adapter", "lora", "smoke: no 4-bit on CPU", overrides)
    for key, value in SMOKE_SETTINGS.items():
        _set(config, key, value, "smoke: CPU-safe", overrides)
