"""Small results documents for the results, index and compare tests (old and new format)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pipeline.data.images import inspect_image
from pipeline.evaluate.spec import EvalSpec, ImagePrompt, Setting, sweep_cells
from pipeline.evaluate.sweep import assemble
from pipeline.formats.results import (
    ConfigBlock,
    Meta,
    ResultsDoc,
    config_block,
    diversity,
    dumps_results,
    hyperparameters_of,
)
from pipeline.formats.tracking import WandbRef

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
    """A results document made by the eval's own writers (assemble, diversity, dumps_results); `meta=False` gives
    the old haha format."""
    spec = EvalSpec(prompts=list(PROMPTS), settings=[Setting(**s) for s in SETTINGS], seedVariants=3)
    texts = {cell: completions(name, cell.prompt, cell.setting, repeat_cold)[cell.seed - 1]
             for cell in sweep_cells(spec)}
    results = assemble(spec, texts)
    doc = ResultsDoc(config=ConfigBlock(**config_block(name, {**BASE_CONFIG, **config})), results=results)
    if meta:
        wandb = WandbRef("haha", name, entity="haha-lab", run_id=f"{name}-id")
        doc.meta = Meta(
            config_sha256="0" * 64, base_model="meta-llama/Meta-Llama-3-8B", hub_repo=f"haha-lab/{name}",
            hub_revision="abc123", adapter_source="workspace", wandb_run=wandb.path, seeds=spec.seeds,
            backend="transformers", device="cpu", started=finished, finished=finished, timings={"sweep_s": 1.5},
            pipeline_version="0.1.0", diversity=diversity(results),
            hyperparameters=hyperparameters_of({"base_model": "meta-llama/Meta-Llama-3-8B", **BASE_CONFIG, **config}))
    return json.loads(dumps_results(doc))


CAPTION = "Write a funny caption for this cartoon."


def picture_doc(name: str, data_dir: Path, images: list[str], finished: str = "2025-03-03T10:00:00+00:00"
                ) -> dict[str, Any]:
    """A caption sweep's results, one prompt per picture under `data_dir` (same text, another picture), made by the
    eval's own writers with each picture's checked path and sha256."""
    spec = EvalSpec(prompts=[ImagePrompt(text=CAPTION, image=image) for image in images],
                    settings=[Setting(**s) for s in SETTINGS], seedVariants=3)
    texts = {cell: completions(name, cell.prompt, cell.setting, False)[cell.seed - 1] for cell in sweep_cells(spec)}
    results = assemble(spec, texts, [inspect_image(image, data_dir) for image in images])
    doc = ResultsDoc(config=ConfigBlock(**config_block(name, BASE_CONFIG)), results=results,
                     meta=Meta(config_sha256="0" * 64, base_model="llava-hf/llava-1.5-7b-hf", seeds=spec.seeds,
                               started=finished, finished=finished, diversity=diversity(results)))
    return json.loads(dumps_results(doc))


def write_doc(folder: Path, name: str, doc: dict[str, Any]) -> Path:
    path = folder / f"{name}.json"
    path.write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return path
