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

from pipeline.config import prompt_loss
from pipeline.config.kinds import find_kind
from pipeline.config.policy_table import HAHA
from pipeline.config.rules import dataset_entries, dataset_file, is_hub_dataset
from pipeline.core.runs import AdapterRef
from pipeline.core.secrets import scrub_config
from pipeline.core.settings import Settings
from pipeline.formats.tracking import GUARD_PLUGIN, WandbMode
from pipeline.models.smoke import SmokeModel

# Long enough on the embedded model for the loss to fall visibly (about 3 s a step on 2 CPU cores).
SMOKE_STEPS = 24
# Settings that need a GPU (or bitsandbytes/flash-attn) and what a CPU smoke run uses instead.
SMOKE_SETTINGS: dict[str, Any] = {
    "load_in_8bit": False,
    "load_in_4bit": False,
    "bf16": False,
    "fp16": False,
    "tf32": False,
    "flash_attention": False,
    "attn_implementation": "eager",
    "gradient_checkpointing": False,
    "pad_to_sequence_len": False,  # padding every row to sequence_len triples a CPU step and changes no result
    "optimizer": "adamw_torch",
    "lora_mlp_kernel": False,
    "lora_qkv_kernel": False,
    "lora_o_kernel": False,
    "lora_embedding_kernel": False,
    "num_epochs": 1,
    "saves_per_epoch": None,
    "micro_batch_size": 8,
    "gradient_accumulation_steps": 1,
    "dataloader_num_workers": 0,
    "deepspeed": None,
    "fsdp": None,
    "fsdp_config": None,
    "use_tensorboard": False,
}
# Evaluation during a smoke run costs CPU time and shows nothing, except where it is when Axolotl generates the
# config's samples (`generate_samples`): then the config's own schedule stays.
SMOKE_NO_EVAL: dict[str, Any] = {"evals_per_epoch": None, "eval_steps": None, "val_set_size": 0}
# Keys tied to the real base model's repo: the smoke model is a local folder.
SMOKE_DROPPED = ("base_model_config", "tokenizer_config", "revision_of_model", "model_revision", "hub_model_id",
                 "push_dataset_to_hub", "hf_use_auth_token")
# Keys tied to the real base model's architecture: kept for its twin, dropped for any other smoke model
# (`model_type: MistralForCausalLM` on a Llama dies with "'LlamaConfig' object has no attribute 'sliding_window'").
ARCHITECTURE_KEYS = ("model_type", "type_of_model", "tokenizer_type", "model_config_type", "cls_model_config",
                     "is_llama_derived_model", "is_mistral_derived_model", "is_qwen_derived_model",
                     "is_falcon_derived_model", "model_config", "overrides_of_model_config",
                     "tokenizer_use_mistral_common", "added_tokens_overrides")
# Architecture-independent classes: `AutoModelForSequenceClassification` (reward models) works on any smoke model.
GENERIC_CLASS_PREFIX = "Auto"


@dataclass(frozen=True)
class Override:
    key: str
    old: Any
    new: Any
    reason: str

    def __str__(self) -> str:
        return f"{self.key}: {self.old!r} -> {self.new!r} ({self.reason})"


@dataclass(frozen=True)
class ParentModel:
    """A `haha_parent` config's starting point: the parent's published adapter merged into the base model."""

    ref: AdapterRef
    path: Path


@dataclass(frozen=True)
class RewardModel:
    """A GRPO config's `haha_reward`: the reward config's published adapter merged into its base, a one-label
    sequence classifier in a folder whose absolute path holds a dot (`_set_reward` says why)."""

    ref: AdapterRef
    path: Path


@dataclass(frozen=True)
class RunPlan:
    """Where one config's run lives; paths are absolute so the child process can run anywhere."""

    adapter_dir: Path
    prepared_dir: Path
    data_dir: Path
    wandb_mode: WandbMode
    smoke: SmokeModel | None = None  # set for smoke runs: the model trained instead of the real one
    smoke_steps: int = SMOKE_STEPS
    parent: ParentModel | None = None
    wandb_unreachable: str | None = None  # why an online run trains offline (tracking.start_tracking)
    reward: RewardModel | None = None  # GRPO: the reward model that scores its answers (haha_reward)


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
    for dataset in dataset_entries(config):
        if dataset.path is None:
            continue
        repo_file = dataset_file(dataset.path, settings)
        if repo_file is None and is_hub_dataset(dataset.path, settings):
            continue  # Axolotl loads a (pinned) Hub dataset by its id
        if repo_file is None:
            raise ValueError(f"{dataset.where}.path '{dataset.path}' is outside train/data")
        mapped = str(data_dir / repo_file.relative_to(settings.data_dir.resolve()))
        if mapped != dataset.path:
            overrides.append(Override(f"{dataset.where}.path", dataset.path, mapped, "data mount"))
            dataset.entry["path"] = mapped


def effective_config(
    config: dict[str, Any], basename: str, settings: Settings, plan: RunPlan
) -> tuple[dict[str, Any], list[Override]]:
    """The config Axolotl runs, and the list of every key the pipeline changed."""
    out = copy.deepcopy(config)
    overrides: list[Override] = []
    _map_datasets(out, settings, plan.data_dir, overrides)
    _set(out, "output_dir", str(plan.adapter_dir), "per-run workspace", overrides)
    _set(out, "dataset_prepared_path", str(plan.prepared_dir), "per-run workspace", overrides)
    if plan.wandb_mode == WandbMode.DISABLED:
        for key in ("wandb_project", "wandb_entity", "wandb_name", "wandb_mode"):
            _set(out, key, None, "W&B disabled", overrides)
    else:
        _set(out, "wandb_name", basename, "the run is named after the config", overrides)
        _set(out, "wandb_project", settings.wandb_project, "repo setting", overrides)
        _set(out, "wandb_entity", settings.wandb_entity or None, "repo setting", overrides)
        _set(out, "wandb_mode", plan.wandb_mode.value, _wandb_mode_reason(plan), overrides)
        _add_plugin(out, GUARD_PLUGIN, "W&B: a tracker failure ends the tracking, never the training", overrides)
    # A cancelled job leaves checkpoints; the next run of the same config picks them up.
    _set(out, "auto_resume_from_checkpoints", True, "resume interrupted runs", overrides)
    if plan.smoke is not None:
        _apply_smoke(out, plan.smoke, plan.smoke_steps, overrides)
    for key in HAHA:
        _set(out, key, None, "read by haha, not Axolotl", overrides)
    if out.get(prompt_loss.KEY) is not None:
        _add_prompt_loss_plugin(out, overrides)
    if plan.reward is not None:
        _set_reward(out, plan.reward, overrides)
    if plan.parent is not None:
        ref = plan.parent.ref
        _set(out, "base_model", str(plan.parent.path),
             f"haha_parent: {ref.basename}'s adapter {ref.revision[:12]} merged into {out.get('base_model')}",
             overrides)
    return scrub_config(out), overrides


def _set_reward(config: dict[str, Any], reward: RewardModel, overrides: list[Override]) -> None:
    """The merged reward model as GRPO's one reward function. Axolotl imports each `reward_funcs` entry by dotted
    path and takes the string as a model folder only when that import fails with ModuleNotFoundError; an absolute
    path with a dot in it always does (a path with none raises "Empty module name" instead)."""
    trl = dict(config.get("trl") or {})
    old, new = trl.get("reward_funcs"), [str(reward.path)]
    trl["reward_funcs"] = new
    config["trl"] = trl
    overrides.append(Override("trl.reward_funcs", old, new, f"haha_reward: {reward.ref.basename}'s adapter "
                                                            f"{reward.ref.revision[:12]} merged into its base model"))


def _wandb_mode_reason(plan: RunPlan) -> str:
    if plan.wandb_unreachable is not None:
        return f"W&B unreachable at start ({plan.wandb_unreachable}): trained offline, to sync later"
    return "smoke: never online" if plan.smoke is not None else "tracking mode"


def _add_plugin(config: dict[str, Any], plugin: str, reason: str, overrides: list[Override]) -> None:
    plugins = config.get("plugins") or []
    if plugin not in plugins:
        _set(config, "plugins", [*plugins, plugin], reason, overrides)


def _add_prompt_loss_plugin(config: dict[str, Any], overrides: list[Override]) -> None:
    """`prompt_loss_weight` is read by haha's own plugin, which needs Axolotl to mark the prompt as -100."""
    _add_plugin(config, prompt_loss.PLUGIN, "prompt_loss_weight: haha's loss-weight plugin", overrides)
    _set(config, "train_on_inputs", False, "prompt_loss_weight: the plugin weighs the prompt's tokens itself",
         overrides)


def _apply_smoke(config: dict[str, Any], smoke: SmokeModel, steps: int, overrides: list[Override]) -> None:
    """CPU-safe settings on the smoke model; data, format, sequence_len, LoRA shape and tokens stay."""
    _set(config, "base_model", str(smoke.path), f"smoke: {smoke.description}", overrides)
    for key in SMOKE_DROPPED:
        _set(config, key, None, "smoke: tied to the real base model's repo", overrides)
    if not smoke.same_architecture:
        _drop_architecture(config, smoke, overrides)
    if config.get("adapter") == "qlora":
        _set(config, "adapter", "lora", "smoke: no 4-bit on CPU", overrides)
    for key, value in SMOKE_SETTINGS.items():
        _set(config, key, value, "smoke: CPU-safe", overrides)
    if not config.get("generate_samples"):
        for key, value in SMOKE_NO_EVAL.items():
            _set(config, key, value, "smoke: no evaluation", overrides)
    if config.get("sample_packing"):
        # Packing stays on (it works on CPU with eager attention); one packed row already holds many rows.
        _set(config, "micro_batch_size", 1, "smoke: one packed sequence a step on CPU", overrides)
    if (kind := find_kind(config)) is not None:
        for key, value in kind.smoke_overrides.items():
            if isinstance(value, dict) and isinstance(config.get(key), dict):
                value = {**config[key], **value}  # a nested block (`trl`) keeps the config's other keys
            _set(config, key, value, f"smoke: {kind.name} training on CPU", overrides)
    _set(config, "max_steps", steps, "smoke: --smoke-steps", overrides)
    _set(config, "save_steps", max(1, steps // 2), "smoke: a checkpoint halfway, to resume from", overrides)
    _set(config, "logging_steps", 1, "smoke: every step's loss on record", overrides)


def _drop_architecture(config: dict[str, Any], smoke: SmokeModel, overrides: list[Override]) -> None:
    """Keys that only make sense on the real architecture, and special tokens the smoke tokenizer lacks."""
    reason = f"smoke: tied to the real architecture, not the {smoke.kind} model's"
    for key in ARCHITECTURE_KEYS:
        value = config.get(key)
        if not (isinstance(value, str) and value.startswith(GENERIC_CLASS_PREFIX)):
            _set(config, key, None, reason, overrides)
    special = config.get("special_tokens")
    if isinstance(special, dict):
        kept = {name: token for name, token in special.items()
                if not isinstance(token, str) or token in smoke.vocabulary}
        if kept != special:
            _set(config, "special_tokens", kept or None,
                 f"smoke: the real tokenizer's tokens, unknown to the {smoke.kind} model's", overrides)
