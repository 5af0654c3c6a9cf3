"""Eval prompts, formatted exactly the way training formatted an instruction.

A fine-tune only knows the wrapping it was trained on: the haha configs put the system
prompt and ChatML markers into the first dataset's custom `type`, which
Axolotl formats with its `user_defined` strategy. Eval prompts go through the same
wrapping here, as the instruction of a row with an empty input and no output, so the
model sees what it saw in training minus the punchline. Configs with a built-in type
fall back to the tokenizer's chat template with the config's `default_system_message`.

tests/test_prompting.py checks token-for-token equality with Axolotl's own strategy.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

# Axolotl 0.19's `UserDefinedDatasetConfig` defaults. Axolotl drops null keys when it
# validates a config, so a key that is missing or null in the type dict gets these.
USER_DEFINED_DEFAULTS: dict[str, str] = {
    "system_prompt": "",
    "system_format": "{system}",
    "format": "{instruction} {input} ",
    "no_input_format": "{instruction} ",
}


def custom_type(config: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The first dataset's custom type dict; None when it names a built-in type or there is no dataset."""
    datasets = config.get("datasets") or []
    first = datasets[0] if datasets and isinstance(datasets[0], Mapping) else {}
    kind = first.get("type")
    return kind if isinstance(kind, Mapping) else None


def format_custom(type_dict: Mapping[str, Any], instruction: str) -> str:
    """Axolotl's `SystemDataPrompter.build_prompt_w_system` for a row with no input and no output."""
    fields = USER_DEFINED_DEFAULTS | {key: value for key, value in type_dict.items() if value is not None}
    system = fields["system_prompt"]
    head = fields["system_format"].format(system=system) if system and fields["system_format"] else ""
    return head + fields["no_input_format"].format(instruction=instruction)


def chat_messages(config: Mapping[str, Any], instruction: str) -> list[dict[str, str]]:
    system = config.get("default_system_message")
    user = [{"role": "user", "content": instruction}]
    return [{"role": "system", "content": str(system)}, *user] if system else user


def prompt_text(config: Mapping[str, Any], instruction: str, tokenizer: PreTrainedTokenizerBase) -> str:
    """The text the model is given for one eval prompt."""
    type_dict = custom_type(config)
    if type_dict is not None:
        return format_custom(type_dict, instruction)
    text = tokenizer.apply_chat_template(chat_messages(config, instruction), tokenize=False,
                                         add_generation_prompt=True)
    assert isinstance(text, str)
    return text


def encode_prompts(config: Mapping[str, Any], instructions: Sequence[str],
                   tokenizer: PreTrainedTokenizerBase) -> list[list[int]]:
    """Token ids per prompt.

    Custom types are tokenized the way Axolotl's `_tokenize` does (the tokenizer's own
    special tokens, e.g. BOS, added); a chat template already spells its special tokens out.
    """
    add_special = custom_type(config) is not None
    return [list(tokenizer(prompt_text(config, text, tokenizer), add_special_tokens=add_special)["input_ids"])
            for text in instructions]
