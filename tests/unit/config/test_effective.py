"""The effective config: what the pipeline changes, and that it says so."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.config.effective import SMOKE_STEPS, RunPlan, effective_config
from pipeline.core.settings import Settings
from pipeline.formats.tracking import WandbMode
from pipeline.models.smoke import SmokeModel, SmokeModelKind

GPU_CONFIG = {
    "base_model": "meta-llama/Meta-Llama-3-8B",
    "load_in_8bit": True,
    "adapter": "qlora",
    "lora_r": 32,
    "lora_alpha": 16,
    "sequence_len": 64,
    "learning_rate": 0.000095,
    "optimizer": "adamw_bnb_8bit",
    "bf16": "auto",
    "wandb_project": "haha",
    "wandb_name": None,
    "special_tokens": {"pad_token": "<|end_of_text|>"},
    "datasets": [{"path": "/workspace/data/haha-v1.jsonl", "type": {"format": "{instruction}"}}],
    "output_dir": "./outputs/lora-out",
}


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    (tmp_path / "train" / "data").mkdir(parents=True)
    return Settings(root=tmp_path, wandb_entity="jokes-team")


# A smoke model whose tokenizer knows ChatML's markers but not Llama-3's `<|end_of_text|>`.
EMBEDDED = SmokeModel(SmokeModelKind.EMBEDDED, Path("/embedded"), "embedded test model",
                      frozenset({"<|im_start|>", "<|im_end|>", "hello"}))
TWIN = SmokeModel(SmokeModelKind.TWIN, Path("/twin"), "twin of the real model")


def plan(tmp_path: Path, wandb_mode: WandbMode = WandbMode.OFFLINE, smoke: SmokeModel | None = None,
         smoke_steps: int = SMOKE_STEPS) -> RunPlan:
    return RunPlan(tmp_path / "ws" / "adapter", tmp_path / "ws" / "prepared", tmp_path / "mounted-data",
                   wandb_mode, smoke, smoke_steps)


def test_pipeline_owned_keys_are_filled_in_and_logged(settings: Settings, tmp_path: Path) -> None:
    config, overrides = effective_config(GPU_CONFIG, "haha-x-001", settings, plan(tmp_path))
    assert config["wandb_name"] == "haha-x-001"
    assert config["wandb_project"] == "haha"
    assert config["wandb_entity"] == "jokes-team"
    assert config["wandb_mode"] == "offline"
    assert config["datasets"][0]["path"] == str(tmp_path / "mounted-data" / "haha-v1.jsonl")
    assert config["output_dir"] == str(tmp_path / "ws" / "adapter")
    changed = {o.key for o in overrides}
    assert {"wandb_name", "datasets[0].path", "output_dir", "dataset_prepared_path"} <= changed


def test_hyperparameters_are_untouched_outside_smoke(settings: Settings, tmp_path: Path) -> None:
    config, overrides = effective_config(GPU_CONFIG, "haha-x-001", settings, plan(tmp_path))
    for key in ("learning_rate", "optimizer", "bf16", "load_in_8bit", "adapter", "lora_r", "sequence_len"):
        assert config[key] == GPU_CONFIG[key]
    assert not [o for o in overrides if o.key in GPU_CONFIG and o.key not in ("output_dir", "datasets[0].path")
                and not o.key.startswith("wandb")]


def test_smoke_swaps_in_cpu_safe_settings_but_keeps_data_format_and_lora_shape(settings: Settings,
                                                                               tmp_path: Path) -> None:
    config, overrides = effective_config(GPU_CONFIG, "haha-x-001", settings, plan(tmp_path, smoke=TWIN))
    assert config["base_model"] == "/twin"
    assert config["adapter"] == "lora"
    assert config["load_in_8bit"] is False
    assert config["bf16"] is False
    assert config["optimizer"] == "adamw_torch"
    assert config["max_steps"] == SMOKE_STEPS
    assert config["lora_qkv_kernel"] is False
    for key in ("lora_r", "lora_alpha", "sequence_len", "special_tokens"):
        assert config[key] == GPU_CONFIG[key]
    assert config["datasets"][0]["type"] == GPU_CONFIG["datasets"][0]["type"]
    logged = {o.key: o for o in overrides}
    assert logged["optimizer"].old == "adamw_bnb_8bit"
    assert "smoke" in logged["optimizer"].reason


def test_disabled_wandb_removes_tracking_keys(settings: Settings, tmp_path: Path) -> None:
    config, _ = effective_config(GPU_CONFIG, "haha-x-001", settings, plan(tmp_path, wandb_mode=WandbMode.DISABLED))
    assert "wandb_project" not in config
    assert "wandb_name" not in config
    assert "plugins" not in config


def test_tracking_mode_says_why_and_a_tracker_failure_is_guarded(settings: Settings, tmp_path: Path) -> None:
    guard = "plugins: None -> ['pipeline.train.tracking_plugin.TrackingGuardPlugin'] (W&B: a tracker failure ends " \
            "the tracking, never the training)"
    online, lines = effective_config(GPU_CONFIG, "haha-x-001", settings, plan(tmp_path, WandbMode.ONLINE))
    assert "wandb_mode: None -> 'online' (tracking mode)" in map(str, lines) and guard in map(str, lines)
    _, lines = effective_config(GPU_CONFIG, "haha-x-001", settings, plan(tmp_path, smoke=EMBEDDED))
    assert "wandb_mode: None -> 'offline' (smoke: never online)" in map(str, lines)
    fallback = RunPlan(tmp_path / "ws" / "adapter", tmp_path / "ws" / "prepared", tmp_path / "mounted-data",
                       WandbMode.OFFLINE, wandb_unreachable="no answer within 90 s: refused")
    offline, lines = effective_config(GPU_CONFIG, "haha-x-001", settings, fallback)
    assert ("wandb_mode: None -> 'offline' (W&B unreachable at start (no answer within 90 s: refused): trained "
            "offline, to sync later)") in map(str, lines)
    # Nothing else about the run changes: the same config, the same run name.
    assert {k: v for k, v in offline.items() if k != "wandb_mode"} == {k: v for k, v in online.items()
                                                                      if k != "wandb_mode"}


def test_the_repo_config_is_never_modified(settings: Settings, tmp_path: Path) -> None:
    before = repr(GPU_CONFIG)
    effective_config(GPU_CONFIG, "haha-x-001", settings, plan(tmp_path, smoke=EMBEDDED))
    assert repr(GPU_CONFIG) == before


def test_secrets_never_reach_the_effective_config(settings: Settings, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_TOKEN", "hf_canary_value_123")
    leaky = {**GPU_CONFIG, "hub_token": "anything", "wandb_watch": "hf_canary_value_123"}
    config, _ = effective_config(leaky, "haha-x-001", settings, plan(tmp_path))
    assert "hub_token" not in config
    assert "hf_canary_value_123" not in repr(config)


def test_dataset_outside_train_data_is_refused(settings: Settings, tmp_path: Path) -> None:
    escaping = {**GPU_CONFIG, "datasets": [{"path": "/etc/passwd"}]}
    with pytest.raises(ValueError, match="outside train/data"):
        effective_config(escaping, "haha-x-001", settings, plan(tmp_path))


def test_every_dataset_list_is_mapped_onto_the_data_mount(settings: Settings, tmp_path: Path) -> None:
    config = {**GPU_CONFIG, "test_datasets": [{"path": "/workspace/data/held-out.jsonl"}]}
    effective, _ = effective_config(config, "haha-x-001", settings, plan(tmp_path))
    assert effective["test_datasets"][0]["path"] == str(tmp_path / "mounted-data" / "held-out.jsonl")


MISTRAL_CONFIG = {**GPU_CONFIG, "base_model": "mistralai/Mistral-7B-v0.1", "model_type": "MistralForCausalLM",
                  "tokenizer_type": "LlamaTokenizer", "is_mistral_derived_model": True,
                  "special_tokens": {"bos_token": "<s>", "eos_token": "<|im_end|>", "unk_token": "<unk>"},
                  "tokens": ["<|im_start|>"], "lora_modules_to_save": ["embed_tokens", "lm_head"]}


def test_a_twin_keeps_every_key_tied_to_the_architecture(settings: Settings, tmp_path: Path) -> None:
    config, overrides = effective_config(MISTRAL_CONFIG, "m-001", settings, plan(tmp_path, smoke=TWIN))
    for key in ("model_type", "tokenizer_type", "is_mistral_derived_model", "special_tokens", "tokens",
                "lora_modules_to_save"):
        assert config[key] == MISTRAL_CONFIG[key]
    assert "twin of the real model" in {o.key: o for o in overrides}["base_model"].reason


def test_another_architecture_drops_the_keys_tied_to_the_real_one_and_says_so(settings: Settings,
                                                                               tmp_path: Path) -> None:
    config, overrides = effective_config(MISTRAL_CONFIG, "m-001", settings, plan(tmp_path, smoke=EMBEDDED))
    for key in ("model_type", "tokenizer_type", "is_mistral_derived_model"):
        assert key not in config
    # Special tokens the smoke tokenizer lacks would be new, untrained tokens; the ones it has stay.
    assert config["special_tokens"] == {"eos_token": "<|im_end|>"}
    assert config["tokens"] == MISTRAL_CONFIG["tokens"]
    assert config["lora_modules_to_save"] == ["embed_tokens", "lm_head"]
    logged = {o.key: o for o in overrides}
    assert logged["model_type"].old == "MistralForCausalLM"
    assert "architecture" in logged["model_type"].reason
    assert "embedded" in logged["special_tokens"].reason


def test_generic_auto_classes_survive_any_smoke_model(settings: Settings, tmp_path: Path) -> None:
    reward = {**GPU_CONFIG, "model_type": "AutoModelForSequenceClassification", "tokenizer_type": "AutoTokenizer"}
    config, _ = effective_config(reward, "r-001", settings, plan(tmp_path, smoke=EMBEDDED))
    assert config["model_type"] == "AutoModelForSequenceClassification"
    assert config["tokenizer_type"] == "AutoTokenizer"


def test_smoke_steps_set_the_length_and_a_checkpoint_halfway(settings: Settings, tmp_path: Path) -> None:
    config, _ = effective_config(GPU_CONFIG, "x-001", settings, plan(tmp_path, smoke=EMBEDDED, smoke_steps=40))
    assert (config["max_steps"], config["save_steps"], config["logging_steps"]) == (40, 20, 1)


def test_smoke_runs_drop_the_multi_gpu_keys_with_a_line_each(settings: Settings, tmp_path: Path) -> None:
    sharded = {**GPU_CONFIG, "deepspeed": "deepspeed_configs/zero3_bf16.json",
               "fsdp_config": {"fsdp_version": 2, "reshard_after_forward": True}}
    config, overrides = effective_config(sharded, "haha-x-001", settings, plan(tmp_path, smoke=TWIN))
    assert "deepspeed" not in config and "fsdp_config" not in config
    shown = [str(o) for o in overrides]
    assert "deepspeed: 'deepspeed_configs/zero3_bf16.json' -> None (smoke: CPU-safe)" in shown
    assert "fsdp_config: {'fsdp_version': 2, 'reshard_after_forward': True} -> None (smoke: CPU-safe)" in shown
    config, _ = effective_config(sharded, "haha-x-001", settings, plan(tmp_path))
    assert config["deepspeed"] == sharded["deepspeed"]  # the GPU run keeps them
