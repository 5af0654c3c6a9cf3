"""Eval prompts are the exact tokens Axolotl's `user_defined` strategy puts before the response in training."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from pipeline.config.loading import load_config
from pipeline.evaluate.prompting import custom_type, encode_prompts, format_custom, prompt_text

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "train" / "config" / "haha-llama-3-8b-lora-001.yml"
PROMPTS = ["It was 100 degrees today.", "My {landlord} fixed the sink."]

TYPE_DICTS: dict[str, dict[str, Any]] = {
    "example config": load_config(EXAMPLE).data["datasets"][0]["type"],
    "axolotl defaults": {"field_instruction": "instruction", "field_output": "output"},
    "system prompt, default system_format": {"system_prompt": "Be funny.", "no_input_format": "Q: {instruction}\nA:"},
    "null fields": {"system_prompt": None, "system_format": None, "format": "{instruction}|{input}|",
                    "no_input_format": None},
}


@pytest.fixture(scope="module")
def tokenizer(tiny_model_dir: Path) -> Any:
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tiny_model_dir)


def axolotl_prompt_ids(tokenizer: Any, type_dict: dict[str, Any], instruction: str) -> tuple[str, list[int]]:
    """What training does: Axolotl's own strategy on a row, keeping the tokens it masks as prompt."""
    from axolotl.prompt_strategies import load
    from axolotl.utils.dict import DictDefault

    # Axolotl's config validation drops null keys before the strategy sees the type dict.
    ds_cfg = {key: value for key, value in type_dict.items() if value is not None}
    strategy = load("user_defined", tokenizer, DictDefault({"train_on_inputs": False, "sequence_len": 512}), ds_cfg)
    row = {"instruction": instruction, "input": "", "output": "a punchline"}
    _, _, _, system = strategy.parse_instruction_fields(row)
    text = next(strategy.prompter.build_prompt_w_system(system, instruction, ""))
    tokenized = strategy.tokenize_prompt(row)
    masked = sum(1 for label in tokenized["labels"] if label == -100)
    return text, tokenized["input_ids"][:masked]


@pytest.mark.parametrize("case", list(TYPE_DICTS))
def test_prompt_tokens_equal_axolotl_training_prompt(tokenizer: Any, case: str) -> None:
    config = {"datasets": [{"path": "x.jsonl", "type": TYPE_DICTS[case]}]}
    ours = encode_prompts(config, PROMPTS, tokenizer)
    for instruction, ids in zip(PROMPTS, ours, strict=True):
        text, expected = axolotl_prompt_ids(tokenizer, TYPE_DICTS[case], instruction)
        assert prompt_text(config, instruction, tokenizer) == text
        assert ids == expected


def test_example_config_prompt_reads_as_chatml() -> None:
    type_dict = custom_type(load_config(EXAMPLE).data)
    assert type_dict is not None
    assert format_custom(type_dict, "It was hot.") == (
        "<|im_start|>system\nYou are a comedian. Finish the joke with one short punchline.<|im_end|>\n"
        "<|im_start|>user\nIt was hot.<|im_end|>\n<|im_start|>assistant\n"
    )


def test_builtin_type_falls_back_to_chat_template_with_default_system_message(tokenizer: Any) -> None:
    config = {"default_system_message": "Be brief.", "datasets": [{"path": "x.jsonl", "type": "alpaca"}]}
    assert custom_type(config) is None
    text = "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"
    assert prompt_text(config, "Hi", tokenizer) == text
    assert encode_prompts(config, ["Hi"], tokenizer) == [tokenizer(text, add_special_tokens=False)["input_ids"]]
