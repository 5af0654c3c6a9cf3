"""Small results documents for the results, index and compare tests (old and new format)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pipeline.results.model import config_block

PROMPTS = ("It was 100 degrees today.", "My cat knocked over my coffee.")
SETTINGS = ({"temperature": 0.1}, {"temperature": 0.9, "top_p": 0.95})
BASE_CONFIG = {
    "default_system_message": "You are a comedian.", "sequence_len": 64, "gradient_accumulation_steps": 4,
    "micro_batch_size": 2, "num_epochs": 4, "optimizer": "adamw_bnb_8bit", "lr_scheduler": "cosine",
    "learning_rate": 0.000095, "load_in_8bit": True, "load_in_4bit": False, "adapter": "lora", "lora_r": 32,
    "lora_alpha": 16, "lora_dropout": 0.05,
}


def completions(name: str, prompt: int, setting: int, repeat_cold: bool) -> list[str]:
    """Three seeds; with `repeat_cold`, seeds 1 and 2 of the coldest setting say the same thing."""
    texts = [f"{name} joke {prompt}.{setting}.{seed}" for seed in (1, 2, 3)]
    if repeat_cold and setting == 0:
        texts[1] = texts[0]
    return texts


def results_doc(name: str, *, meta: bool = True, repeat_cold: bool = False, finished: str = "2025-03-02T10:00:00+00:00",
                **config: Any) -> dict[str, Any]:
    """A results document as the eval stage writes it; `meta=False` gives the old haha format."""
    doc: dict[str, Any] = {
        "config": config_block(name, {**BASE_CONFIG, **config}),
        "results": [
            {"prompt": prompt, "settingsResults": [
                {**setting, "completions": completions(name, p, s, repeat_cold)} for s, setting in enumerate(SETTINGS)
            ]}
            for p, prompt in enumerate(PROMPTS)
        ],
    }
    if meta:
        doc["meta"] = {
            "config_sha256": "0" * 64, "base_model": "meta-llama/Meta-Llama-3-8B", "hub_repo": f"haha-lab/{name}",
            "hub_revision": "abc123", "adapter_source": "workspace", "wandb_run": f"haha-lab/haha/{name}-id",
            "seeds": [1, 2, 3], "backend": "transformers", "device": "cpu", "started": finished, "finished": finished,
            "timings": {"generate_s": 1.5}, "pipeline_version": "0.1.0",
            "diversity": [{"setting": {"temperature": 0.1}, "repeated_share": 0.3333 if repeat_cold else 0.0},
                          {"setting": {"temperature": 0.9, "top_p": 0.95}, "repeated_share": 0.0}],
        }
    return doc


def write_doc(folder: Path, name: str, doc: dict[str, Any]) -> Path:
    path = folder / f"{name}.json"
    path.write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return path
