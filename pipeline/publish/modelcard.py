"""The model card (the Hub repo's README.md) for a published adapter, as a pure function of what the run knows.

A reader landing on the Hub page should learn, without cloning anything, which base model and
data made the adapter, the exact config that ran (secrets removed), where its W&B run and eval
results live, and how to load it. Publishing (`pipeline.publish.hub`) only uploads this text.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import yaml

from pipeline.core.markdown import cell, code, fenced, link
from pipeline.core.naming import is_hub_id
from pipeline.core.runs import AdapterRef
from pipeline.core.secrets import scrub, scrub_config
from pipeline.formats.tracking import OFFLINE_NOT_SYNCED, WandbRef

TAGS = ("haha", "lora", "axolotl", "peft")


@dataclass(frozen=True)
class DatasetFile:
    path: str
    rows: int | None  # None when the rows were not counted (a Hub dataset that is not downloaded)
    on_hub: bool = False  # a Hub dataset id rather than a file in train/data; listed in the front matter


@dataclass(frozen=True)
class CardInputs:
    repo_id: str
    basename: str
    base_model: str
    config_sha256: str
    effective_config: Mapping[str, Any]
    datasets: Sequence[DatasetFile] = field(default_factory=tuple)
    license: str = "other"
    wandb: WandbRef | None = None
    results_path: str = ""  # the results file, relative to the repo root (train/results/<basename>.json)
    # The source repository's web address (e.g. https://github.com/org/haha); turns the results path into a link.
    source_repo_url: str = ""
    parent: AdapterRef | None = None  # haha_parent: the adapter merged into the base model before this one trained


def render_card(card: CardInputs) -> str:
    """The README.md text: YAML front matter the Hub indexes, then sections for people."""
    sections = [
        _front_matter(card),
        f"# {cell(card.basename)}\n\nA LoRA adapter for {code(card.base_model)}{_parent_phrase(card.parent)}, "
        f"trained with Axolotl by the haha pipeline from config {code(card.basename)} (sha256 "
        f"{code(card.config_sha256)}).",
        _data_section(card.datasets),
        _config_section(card.effective_config),
        _tracking_section(card),
        f"## License\n\n{code(card.license)}, the license of the base model {code(card.base_model)}.",
        _usage_section(card),
    ]
    # Belt and braces: no secret value may reach the Hub page, whichever field carried it in.
    return scrub("\n\n".join(sections) + "\n")


def _front_matter(card: CardInputs) -> str:
    meta: dict[str, Any] = {}
    if is_hub_id(card.base_model, bare=True):  # the Hub rejects a path (a smoke run's model) here
        meta["base_model"] = card.base_model
    meta |= {"library_name": "peft", "license": card.license, "tags": list(TAGS), "pipeline_tag": "text-generation"}
    if hub_datasets := [d.path for d in card.datasets if d.on_hub]:
        meta["datasets"] = hub_datasets
    return f"---\n{yaml.safe_dump(meta, sort_keys=False, allow_unicode=True)}---"


def _data_section(datasets: Sequence[DatasetFile]) -> str:
    if not datasets:
        return "## Training data\n\nNo dataset recorded."
    lines = [f"- {code(d.path)}" + (f": {d.rows} rows" if d.rows is not None else "") for d in datasets]
    return "## Training data\n\n" + "\n".join(lines)


def _config_section(config: Mapping[str, Any]) -> str:
    text = yaml.safe_dump(scrub_config(dict(config)), sort_keys=False, allow_unicode=True)
    return f"## Training config\n\nThe effective Axolotl config, credentials removed:\n\n{fenced(text, 'yaml')}"


def _tracking_section(card: CardInputs) -> str:
    results_path = card.results_path
    results = (
        link(code(results_path), f"{card.source_repo_url.rstrip('/')}/blob/main/{results_path}")
        if card.source_repo_url
        else f"{code(results_path)} in the haha repository"
    )
    lines = [f"- Eval results: {results}"]
    if card.wandb:
        run = f"{card.wandb.project}/{card.wandb.name}"
        synced = f" ({OFFLINE_NOT_SYNCED})" if card.wandb.awaiting_sync else ""
        shown = link(code(run), card.wandb.url) if card.wandb.url else f"{code(run)}{synced}"
        lines.append(f"- W&B run: {shown}")
    return "## Tracking and results\n\n" + "\n".join(lines)


def _parent_phrase(parent: AdapterRef | None) -> str:
    if parent is None:
        return ""
    return (f" with the adapter {code(parent.repo_id)} (revision {code(parent.revision[:12])}, config "
            f"{code(parent.basename)}) merged in first")


def _literal(value: str) -> str:
    """A Python string literal, double-quoted as people write them (JSON's escapes are Python's too)."""
    return json.dumps(value, ensure_ascii=False)


def _usage_section(card: CardInputs) -> str:
    parent = card.parent
    merge = (f"base = PeftModel.from_pretrained(base, {_literal(parent.repo_id)}, revision={_literal(parent.revision)})"
             ".merge_and_unload()\n" if parent else "")
    return "## How to use\n\n" + fenced(
        "from peft import PeftModel\n"
        "from transformers import AutoModelForCausalLM, AutoTokenizer\n\n"
        f"base = AutoModelForCausalLM.from_pretrained({_literal(card.base_model)})\n"
        f"{merge}"
        f"model = PeftModel.from_pretrained(base, {_literal(card.repo_id)})\n"
        f"tokenizer = AutoTokenizer.from_pretrained({_literal(card.repo_id)})\n", "python")


@dataclass(frozen=True)
class MergedCardInputs:
    """`haha export`: the adapter published at `adapter` folded into `base_model`, as a plain model folder."""

    basename: str
    base_model: str
    adapter: AdapterRef  # the published adapter, at the revision its results were made with
    config: Mapping[str, Any]  # the config as written; credentials are removed here
    parent: AdapterRef | None = None  # haha_parent: merged in before this adapter
    chat_template: bool = True  # whether the tokenizer carries a chat template
    license: str = "other"


def render_merged_card(card: MergedCardInputs) -> str:
    """README.md of an exported model: what was merged into what, the config that trained it, and how other
    runtimes load the folder (transformers, vLLM, llama.cpp's converter, then Ollama)."""
    meta: dict[str, Any] = {"base_model": card.base_model} if is_hub_id(card.base_model, bare=True) else {}
    meta |= {"library_name": "transformers", "license": card.license, "tags": [*TAGS[:3], "merged"],
             "pipeline_tag": "text-generation"}
    adapter = card.adapter
    template = ("The tokenizer carries the chat template the adapter was trained with (`chat_template.jinja`)."
                if card.chat_template else "The tokenizer carries no chat template: format prompts as the config's "
                                           "dataset entries do.")
    sections = [
        f"---\n{yaml.safe_dump(meta, sort_keys=False, allow_unicode=True)}---",
        f"# {cell(card.basename)}, merged\n\nThe LoRA adapter {code(adapter.repo_id)} (revision "
        f"{code(adapter.revision[:12])}) folded into {code(card.base_model)}"
        f"{_parent_phrase(card.parent).replace(' with the adapter', ', after the adapter')}: plain safetensors "
        f"weights with their tokenizer, written by `haha export`. {template}",
        _config_section(card.config).replace("The effective Axolotl config", "The config as written"),
        f"## License\n\n{code(card.license)}, the license of the base model {code(card.base_model)}.",
        "## How to use\n\n" + fenced(
            "# transformers\n"
            "from transformers import AutoModelForCausalLM, AutoTokenizer\n"
            "model = AutoModelForCausalLM.from_pretrained(\"path/to/this/folder\")\n"
            "tokenizer = AutoTokenizer.from_pretrained(\"path/to/this/folder\")\n\n"
            "# vLLM\n"
            "vllm serve path/to/this/folder\n\n"
            "# llama.cpp, then Ollama (a Modelfile with: FROM ./model.gguf)\n"
            "python convert_hf_to_gguf.py path/to/this/folder --outfile model.gguf\n"
            "ollama create my-model -f Modelfile\n", "text"),
    ]
    return scrub("\n\n".join(sections) + "\n")
