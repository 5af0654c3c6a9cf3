"""Eval prompts are the tokens Axolotl's own pipeline puts before the answer in training, for every dataset type.

Each case is a config moved in from Axolotl's examples (tests/wild/axolotl) or one of the repo's samples, with the
first row of its own data. Training's side is Axolotl's pipeline on that real row: `get_dataset_wrapper` over a
one-row dataset (the tokens before the first trained label), or the `rl` transform's prompt as TRL tokenizes it.
The eval side is evaluate/prompting.py given only the row's question. They must agree token for token.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from pipeline.config.load_checks import stand_in_tokenizer
from pipeline.evaluate.prompting import prompt_format
from tests.support.paths import REPO

WILD = REPO / "tests" / "wild" / "axolotl"

# (config, how to read the question out of the dataset's first row)
CASES: dict[str, tuple[Path, str]] = {
    "alpaca": (WILD / "config" / "llama-3-1b-alpaca-001.yml", "instruction"),
    "oasst": (WILD / "config" / "pythia-1b-oasst-001.yml", "INSTRUCTION"),
    "user_defined (the repo's SFT sample)": (REPO / "train" / "config" / "haha-llama-3-8b-lora-001.yml", "instruction"),
    "chat_template, role/content messages": (WILD / "config" / "llama-3-8b-messages-001.yml", "messages"),
    "chat_template, from/value conversations": (WILD / "config" / "gemma-3-1b-conversations-001.yml",
                                                "conversations"),
    "completion": (WILD / "config" / "llama-3-1b-completion-001.yml", "text"),
    "input_output": (WILD / "config" / "llama-3-1b-segments-001.yml", "segments"),
    "dpo chat_template.default": (WILD / "config" / "qwen2-05b-dpo-001.yml", "conversation"),
    "dpo chatml.intel": (WILD / "config" / "mistral-7b-dpo-001.yml", "question"),
    "dpo chatml.icr (the repo's DPO sample)": (REPO / "train" / "config" / "haha-llama-3-8b-dpo-001.yml", "input"),
    "orpo chat_template.argilla": (WILD / "config" / "mistral-7b-orpo-001.yml", "chosen"),
    "kto chatml.ultra": (WILD / "config" / "llama-3-1b-kto-001.yml", "prompt"),
    "grpo prompts (the repo's GRPO sample)": (REPO / "train" / "config" / "haha-llama-3-8b-grpo-001.yml", "prompt"),
}


def first_row(config: dict[str, Any], config_path: Path) -> dict[str, Any]:
    name = config["datasets"][0]["path"].removeprefix("/workspace/data/")
    data = (WILD / "data" if config_path.is_relative_to(WILD) else REPO / "train" / "data") / name
    return json.loads(data.read_text().splitlines()[0])


def question_of(row: dict[str, Any], field: str) -> str:
    value = row[field]
    if field == "text":
        return str(value)
    if field == "segments":
        return str(value[0]["text"])
    if isinstance(value, list):  # a conversation: the first user turn
        turns = [turn for turn in value if turn.get("role", turn.get("from")) in ("user", "human")]
        return str(turns[0].get("content", turns[0].get("value")))
    return str(value)


def training_prompt_ids(config: dict[str, Any], row: dict[str, Any], tokenizer: Any) -> list[int]:
    """What training shows the model before the answer, by Axolotl's (and TRL's) own code on the real row."""
    from axolotl.utils.dict import DictDefault

    if config.get("rl") == "grpo":  # GRPOTrainer's own prompt tokenization, run on the row as the trainer would
        from types import SimpleNamespace

        from trl import GRPOTrainer

        trainer = SimpleNamespace(_is_vlm=False, processing_class=tokenizer, chat_template=None, tools=None,
                                  environment_factories=None, chat_template_kwargs={})
        prompt_ids, _, _ = GRPOTrainer._tokenize_prompts(trainer, [row["prompt"]])
        return list(prompt_ids[0])
    if config.get("rl"):
        from axolotl.prompt_strategies.dpo import load as load_dpo
        from axolotl.prompt_strategies.kto import load as load_kto
        from axolotl.prompt_strategies.orpo import load as load_orpo
        from trl.data_utils import _tokenize

        loader = {"orpo": load_orpo, "kto": load_kto}.get(config["rl"], load_dpo)
        transform = loader(config["datasets"][0]["type"], DictDefault(config), dataset_idx=0)
        transform = transform[0] if isinstance(transform, tuple) else transform
        try:
            sample = transform(row, tokenizer=tokenizer)
        except TypeError:
            sample = transform(row)
        return list(_tokenize(tokenizer, sample["prompt"])["input_ids"])
    from axolotl.utils.data.sft import _parse_dataset_type
    from axolotl.utils.data.wrappers import get_dataset_wrapper
    from datasets import Dataset

    entry = DictDefault(config["datasets"][0])
    cfg = DictDefault({**config, "train_on_inputs": False, "sequence_len": 4096})
    base, style = _parse_dataset_type(entry.type)
    wrapped, _ = get_dataset_wrapper(entry, tokenizer, cfg, base, Dataset.from_list([row]), style)
    tokenized = wrapped[0]
    labels = tokenized["labels"]
    trained = [index for index, label in enumerate(labels) if label != -100]
    if entry.type in ("completion", "input_output"):
        # No prompt wrapping: the eval prompt is the row's own text up to its answer, without the closing EOS.
        untrained = [index for index, label in enumerate(labels) if label == -100]
        end = untrained[-1] + 1 if entry.type == "input_output" else len(labels)
        ids = list(tokenized["input_ids"][:end])
        return ids[:-1] if ids and ids[-1] == tokenizer.eos_token_id else ids
    return list(tokenized["input_ids"][: trained[0]])


@pytest.mark.slow
@pytest.mark.parametrize("case", list(CASES))
def test_eval_prompt_is_the_training_rows_prefix(case: str) -> None:
    path, field = CASES[case]
    config = yaml.safe_load(path.read_text())
    row = first_row(config, path)
    built, why = stand_in_tokenizer(config)  # Axolotl's load_tokenizer with the config's template, on SmolLM2
    assert built is not None, why
    tokenizer = built.tokenizer
    if case == "completion":  # the row is the joke itself: its question is its first sentence
        row = {"text": question_of(row, field).split("?")[0] + "?"}
    if case == "input_output":
        row = {"segments": [row["segments"][0]]}
    made = prompt_format(config, row, tokenizer)
    ours = made.encode_one(question_of(row, field))
    assert "chat template" not in made.method, made.method
    assert ours == training_prompt_ids(config, row, tokenizer), (
        f"{made.method}\neval:     {tokenizer.decode(ours)!r}\ntraining: "
        f"{tokenizer.decode(training_prompt_ids(config, row, tokenizer))!r}")


@pytest.mark.slow
def test_alpaca_prompt_is_alpacas_not_the_chat_template() -> None:
    """The measured bug: an Alpaca-trained config was prompted with ChatML. Its prompt is Alpaca's now."""
    path, _ = CASES["alpaca"]
    config = yaml.safe_load(path.read_text())
    built, _ = stand_in_tokenizer(config)
    assert built is not None
    text = built.tokenizer.decode(prompt_format(config, first_row(config, path), built.tokenizer).encode_one("Hi"))
    assert text.endswith("### Instruction:\nHi\n\n### Response:\n")
    assert "<|im_start|>" not in text


@pytest.mark.slow
def test_a_type_without_a_question_field_says_it_falls_back() -> None:
    """A reward model's Bradley-Terry rows are scored, never prompted: the method says the chat template is used."""
    path = WILD / "config" / "qwen2-05b-reward-001.yml"
    config = yaml.safe_load(path.read_text())
    built, _ = stand_in_tokenizer(config)
    assert built is not None
    made = prompt_format(config, first_row(config, path), built.tokenizer)
    assert made.method.startswith("the tokenizer's chat template")
    assert "bradley_terry.chat_template strategy" in made.method and "marks no answer" in made.method
