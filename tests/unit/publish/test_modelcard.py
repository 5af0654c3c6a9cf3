"""The model card: Hub-readable front matter, and a body that says what made the adapter and how to load it."""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Any

import pytest
import yaml

from pipeline.formats.tracking import WandbRef
from pipeline.publish.modelcard import CardInputs, DatasetFile, render_card

SHA = "c" * 64
CONFIG = {
    "base_model": "meta-llama/Meta-Llama-3-8B",
    "adapter": "lora",
    "lora_r": 32,
    "datasets": [{"path": "/workspace/data/jokes.jsonl", "type": "alpaca"}],
    "wandb_name": "haha-llama-3-8b-lora-001",
}
CARD = CardInputs(
    repo_id="haha-lab/haha-llama-3-8b-lora-001",
    basename="haha-llama-3-8b-lora-001",
    base_model="meta-llama/Meta-Llama-3-8B",
    config_sha256=SHA,
    effective_config=CONFIG,
    datasets=(DatasetFile("train/data/jokes.jsonl", 1200),),
    results_path="train/results/haha-llama-3-8b-lora-001.json",
    license="llama3",
    wandb=WandbRef("haha", "haha-llama-3-8b-lora-001"),
)


def _split(card: str) -> tuple[dict[str, Any], str]:
    """Front matter and body, delimited the way the Hub reads them: `---` lines at column 0."""
    match = re.fullmatch(r"---\n(.*?)\n---\n\n(.*)", card, re.S)
    assert match, "the card does not open with a front matter block"
    return yaml.safe_load(match[1]), match[2]


def _code_block(body: str, language: str) -> str:
    match = re.search(rf"```{language}\n(.*?)```", body, re.S)
    assert match, f"no ```{language} block"
    return match[1]


def test_front_matter_is_what_the_hub_indexes() -> None:
    meta, _ = _split(render_card(CARD))
    assert meta["base_model"] == "meta-llama/Meta-Llama-3-8B"
    assert meta["library_name"] == "peft"
    assert meta["license"] == "llama3"
    assert {"haha", "lora", "axolotl"} <= set(meta["tags"])
    assert "datasets" not in meta, "a file in train/data is not a Hub dataset"


def test_hub_datasets_are_listed_in_the_front_matter() -> None:
    datasets = (DatasetFile("train/data/jokes.jsonl", 10), DatasetFile("tatsu-lab/alpaca", None, on_hub=True))
    card = replace(CARD, datasets=datasets)
    meta, body = _split(render_card(card))
    assert meta["datasets"] == ["tatsu-lab/alpaca"]
    assert "- `train/data/jokes.jsonl`: 10 rows" in body
    assert "- `tatsu-lab/alpaca`\n" in body


def test_a_local_base_model_stays_out_of_the_front_matter() -> None:
    meta, body = _split(render_card(replace(CARD, base_model="/tmp/scratch/tiny-model")))
    assert "base_model" not in meta
    assert "`/tmp/scratch/tiny-model`" in body


def test_awkward_values_cannot_break_the_front_matter() -> None:
    meta, _ = _split(render_card(replace(CARD, license="other: see\n---\nbase_model: evil")))
    assert meta["license"] == "other: see\n---\nbase_model: evil"
    assert meta["base_model"] == "meta-llama/Meta-Llama-3-8B"


def test_body_names_base_model_data_hash_and_license() -> None:
    _, body = _split(render_card(CARD))
    assert body.startswith("# haha-llama-3-8b-lora-001\n")
    assert "`meta-llama/Meta-Llama-3-8B`" in body
    assert "- `train/data/jokes.jsonl`: 1200 rows" in body
    assert SHA in body
    assert "## License\n\n`llama3`" in body


def test_config_block_is_the_effective_config_without_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    secret = "hf_secret_value_123456"
    monkeypatch.setenv("HF_TOKEN", secret)
    config = {**CONFIG, "hf_token": secret, "hub_model_id": f"x-{secret}"}
    card = render_card(replace(CARD, effective_config=config))
    shown = yaml.safe_load(_code_block(card, "yaml"))
    assert shown == {**CONFIG, "hub_model_id": "x-***"}
    assert secret not in card


def test_results_file_is_linked_when_the_source_repo_is_known() -> None:
    _, plain = _split(render_card(CARD))
    assert "`train/results/haha-llama-3-8b-lora-001.json` in the haha repository" in plain
    _, linked = _split(render_card(replace(CARD, source_repo_url="https://github.com/haha-lab/haha/")))
    assert ("[`train/results/haha-llama-3-8b-lora-001.json`]"
            "(https://github.com/haha-lab/haha/blob/main/train/results/haha-llama-3-8b-lora-001.json)") in linked


def test_wandb_run_is_named_and_linked_only_when_the_entity_is_known() -> None:
    _, unlinked = _split(render_card(CARD))
    assert "- W&B run: `haha/haha-llama-3-8b-lora-001`\n" in unlinked
    run = WandbRef("haha", "haha-llama-3-8b-lora-001", entity="haha-team", run_id="3kx9q2")
    _, linked = _split(render_card(replace(CARD, wandb=run)))
    assert "- W&B run: [`haha/haha-llama-3-8b-lora-001`](https://wandb.ai/haha-team/haha/runs/3kx9q2)" in linked
    _, untracked = _split(render_card(replace(CARD, wandb=None)))
    assert "W&B" not in untracked


def test_a_run_that_fell_back_offline_links_no_page_until_it_is_synced() -> None:
    run = WandbRef("haha", "haha-llama-3-8b-lora-001", entity="haha-team", run_id="3kx9q2", awaiting_sync=True)
    _, card = _split(render_card(replace(CARD, wandb=run)))
    assert "- W&B run: `haha/haha-llama-3-8b-lora-001` (offline, not synced)\n" in card
    assert run.recorded_as == "offline, not synced"


def test_usage_snippet_loads_the_adapter_onto_its_base_model() -> None:
    snippet = _code_block(render_card(CARD), "python")
    compile(snippet, "snippet", "exec")
    assert 'AutoModelForCausalLM.from_pretrained("meta-llama/Meta-Llama-3-8B")' in snippet
    assert 'PeftModel.from_pretrained(base, "haha-lab/haha-llama-3-8b-lora-001")' in snippet
