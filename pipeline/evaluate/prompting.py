"""Eval prompts, formatted by the strategy that formatted training, up to where the model's answer starts.

A fine-tune only knows the wrapping it was trained on: Alpaca's "### Response:", a chat template's
generation prompt, a user-defined `format`, a DPO transform's prompt text. So an eval prompt is made
the way training made a row: the config's first dataset entry, its own Axolotl strategy
(data/strategies.py), and a row shaped like the dataset's first row (its system turn kept) with the eval
prompt where the question was and a placeholder answer. Then:

- tokenized data (SFT): the tokens before the first trained label, exactly what training showed the
  model before the answer;
- transformed data (DPO, ORPO, KTO): the transform's `prompt` text, tokenized the way TRL tokenizes it.

Raw `completion` text and `input_output` segments have no prompt wrapping: the prompt is the text
itself, tokenized by the same strategy. A type whose question field haha cannot find falls back to
the tokenizer's chat template, and says so: every results file records its method and the first
prompt's exact text (`meta.prompt_format`, `meta.prompt_example`).

tests/e2e/test_prompting.py compares these tokens with the prefix of Axolotl's tokenized training row for
each supported type.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pipeline.data.images import IMAGE_COLUMNS
from pipeline.data.rows import UNTRUNCATED
from pipeline.data.strategies import DataPath, RowStrategy, StrategyError, data_path, quiet_axolotl, type_name

if TYPE_CHECKING:
    from PIL.Image import Image as PILImage
    from transformers import PreTrainedTokenizerBase

    from pipeline.evaluate.sampling import ImageInputs

ANSWER = "<<haha answer>>"  # stands where the training row's answer was; never part of a prompt
# The row fields instruction-style types read the question from, and their answer fields, by Axolotl's names.
QUESTION_FIELDS = ("instruction", "INSTRUCTION", "question", "prompt", "query")
CONTEXT_FIELDS = ("input", "context", "category")  # emptied: an eval prompt is the question alone
ANSWER_FIELDS = ("output", "RESPONSE", "response", "answer", "completion", "chosen", "rejected", "chosen_response",
                 "rejected_response")
SYSTEM_ROLES = ("system",)


@dataclass(frozen=True)
class PromptFormat:
    """How one config's eval prompts are made: `method` says it in words for the results file."""

    method: str
    encode_one: Callable[[str], list[int]]

    def encode(self, prompts: Sequence[str]) -> list[list[int]]:
        with quiet_axolotl():
            return [self.encode_one(prompt) for prompt in prompts]


# -- rows shaped like the dataset's, holding the eval prompt ----------------------------------------------------------

def _message_keys(entry: Mapping[str, Any]) -> tuple[str, str]:
    mappings = entry.get("message_property_mappings") or {}
    return str(mappings.get("role", "role")), str(mappings.get("content", "content"))


def _is_system(message: Any, role_key: str, entry: Mapping[str, Any]) -> bool:
    names = {*SYSTEM_ROLES, *((entry.get("roles") or {}).get("system") or [])}
    return isinstance(message, Mapping) and message.get(role_key) in names


def _turns(template: Sequence[Any] | None, entry: Mapping[str, Any], prompt: str | list[dict[str, Any]],
           answer: str | None) -> list[Any]:
    """The template's leading system turns, then its first user turn holding `prompt`, then (when `answer` is
    given) its first reply holding the answer: the template's own role names and property names kept."""
    role_key, content_key = _message_keys(entry)
    messages = [m for m in template or [] if isinstance(m, Mapping)]
    system = [dict(m) for m in messages if _is_system(m, role_key, entry)][:1]
    rest = [m for m in messages if not _is_system(m, role_key, entry)]
    user = dict(rest[0]) if rest else {role_key: "user"}
    turns = [*system, {**user, content_key: prompt}]
    if answer is not None:
        reply = dict(rest[1]) if len(rest) > 1 else {role_key: "assistant"}
        turns.append({**reply, content_key: answer})
    return turns


def _answer_like(template: Any, entry: Mapping[str, Any], answer: str) -> Any:
    """A DPO answer in the template's own shape: a message, a list of turns ending in the reply, or text."""
    role_key, content_key = _message_keys(entry)
    if isinstance(template, Mapping):
        return {**template, content_key: answer}
    if isinstance(template, list):
        return [*template[:-1], {**(template[-1] if template else {role_key: "assistant"}), content_key: answer}]
    return answer


def chat_row(template: Mapping[str, Any], entry: Mapping[str, Any], prompt: str, preference: bool) -> dict[str, Any]:
    """A `chat_template` row (SFT, DPO `chat_template.default`, ORPO `chat_template.argilla`) holding the prompt."""
    row = copy.deepcopy(dict(template))
    field = str(entry.get("field_messages") or "messages")
    if not preference:
        row[field] = _turns(template.get(field), entry, prompt, ANSWER)
        return row
    chosen_key = str(entry.get("field_chosen") or "chosen")
    rejected_key = str(entry.get("field_rejected") or "rejected")
    if isinstance(template.get(chosen_key), list):  # argilla: each answer is the whole conversation
        for key, answer in ((chosen_key, ANSWER), (rejected_key, ANSWER + " ")):
            row[key] = _turns(template.get(key), entry, prompt, answer)
        if "prompt" in row:
            row["prompt"] = prompt
        return row
    row[field] = _turns(template.get(field), entry, prompt, None)
    row[chosen_key] = _answer_like(template.get(chosen_key), entry, ANSWER)
    row[rejected_key] = _answer_like(template.get(rejected_key), entry, ANSWER + " ")
    return row


def flat_row(template: Mapping[str, Any], entry: Mapping[str, Any], prompt: str) -> dict[str, Any] | None:
    """An instruction-style row (Alpaca, OASST, Intel pairs, a user-defined mapping) holding the prompt; None when
    no question field can be found."""
    type_cfg = entry.get("type")
    if isinstance(type_cfg, Mapping):  # a user-defined mapping names its fields
        question = str(type_cfg.get("field_instruction") or type_cfg.get("field_prompt") or "instruction")
        answers = [str(type_cfg.get(key) or default) for key, default in
                   (("field_output", "output"), ("field_chosen", "chosen"), ("field_rejected", "rejected"))]
        context = [str(type_cfg.get("field_input") or "input")]
    else:
        # `input` is the question when nothing else is (chatml.icr), else it is context
        question = next((name for name in (*QUESTION_FIELDS, "input") if name in template), "")
        answers = [name for name in ANSWER_FIELDS if name in template]
        context = [name for name in CONTEXT_FIELDS if name in template and name != question]
        if not question or not answers:
            return None
    row = {**copy.deepcopy(dict(template)), question: prompt}
    row.update({name: "" for name in context if name != question})
    row.update({name: ANSWER + " " * index for index, name in enumerate(answers)})
    return row


def is_chat_type(entry: Mapping[str, Any]) -> bool:
    return type_name(entry).startswith("chat_template")


# -- the format --------------------------------------------------------------------------------------------------------

def _strategy(config: Mapping[str, Any], tokenizer: Any) -> RowStrategy:
    """The first dataset entry's strategy, made to mark only the answer as trained (its start is the cut)."""
    entries = list(config.get("datasets") or [])
    first = dict(entries[0])
    if is_chat_type(first) and data_path(config) is DataPath.TOKENIZED:
        first["roles_to_train"] = ["assistant"]
    view = {**config, "train_on_inputs": False, "datasets": [first, *entries[1:]]}
    return RowStrategy(view, "datasets", 0, tokenizer, UNTRUNCATED)


def _chat_fallback(config: Mapping[str, Any], tokenizer: PreTrainedTokenizerBase, why: str) -> PromptFormat:
    system = config.get("default_system_message")

    def encode(prompt: str) -> list[int]:
        messages = [{"role": "user", "content": prompt}]
        if system:
            messages.insert(0, {"role": "system", "content": str(system)})
        text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        return list(tokenizer(str(text), add_special_tokens=False)["input_ids"])

    return PromptFormat(f"the tokenizer's chat template with a generation prompt ({why})", encode)


def _from_strategy(config: Mapping[str, Any], template_row: Mapping[str, Any] | None,
                   tokenizer: PreTrainedTokenizerBase) -> PromptFormat:
    entries = [e for e in config.get("datasets") or [] if isinstance(e, Mapping)]
    if not entries:
        return _chat_fallback(config, tokenizer, "the config has no dataset")
    entry = entries[0]
    template = dict(template_row or {})
    kind = type_name(entry)
    try:
        strategy = _strategy(config, tokenizer)
    except StrategyError as exc:
        return _chat_fallback(config, tokenizer, f"no Axolotl strategy for '{kind}': {exc}")
    if strategy.path is DataPath.TRANSFORMED:
        return _transformed(strategy, template, entry, tokenizer)
    if strategy.path is DataPath.PROMPTS:
        return _prompts(template, tokenizer)
    if kind == "completion":
        field = str(entry.get("field") or "text")
        return PromptFormat(f"Axolotl's completion strategy on the prompt as raw text ('{field}'), without its "
                            "closing end-of-text token",
                            lambda prompt: _without_eos(strategy.tokenize({field: prompt}), tokenizer))
    if kind == "input_output":
        return PromptFormat("Axolotl's input_output strategy on the prompt as one untrained segment",
                            lambda prompt: _whole(strategy.tokenize({"segments": [{"label": False,
                                                                                    "text": prompt}]})))
    return _tokenized(strategy, template, entry, tokenizer)


def prompt_format(config: Mapping[str, Any], template_row: Mapping[str, Any] | None,
                  tokenizer: PreTrainedTokenizerBase) -> PromptFormat:
    """How this config's eval prompts are made, from its first dataset entry and that dataset's first row; the
    tokenizer's chat template when Axolotl's strategy cannot make one (the method says why)."""
    made = _from_strategy(config, template_row, tokenizer)
    try:
        made.encode_one("probe")
    except Exception as exc:  # a strategy raises anything on a row it cannot format
        return _chat_fallback(config, tokenizer, f"{made.method} fails on a prompt row: {exc}")
    return made


def _tokenized(strategy: RowStrategy, template: dict[str, Any], entry: Mapping[str, Any],
               tokenizer: PreTrainedTokenizerBase) -> PromptFormat:
    chat = is_chat_type(entry)

    def row_for(prompt: str) -> dict[str, Any] | None:
        return chat_row(template, entry, prompt, False) if chat else flat_row(template, entry, prompt)

    probe = row_for("probe")
    if probe is None:
        return _chat_fallback({}, tokenizer, f"haha finds no question field in a '{strategy.type}' row")

    def encode(prompt: str) -> list[int]:
        tokenized = strategy.tokenize(row_for(prompt) or {})
        ids = tokenized.prompt_ids() if tokenized is not None else None
        if ids is None:
            raise StrategyError("it marks no answer to cut at")
        return ids

    return PromptFormat(f"Axolotl's {strategy.type} strategy on a row like the dataset's first, cut where the "
                        "answer starts", encode)


def _transformed(strategy: RowStrategy, template: dict[str, Any], entry: Mapping[str, Any],
                 tokenizer: PreTrainedTokenizerBase) -> PromptFormat:
    from trl.data_utils import _tokenize

    chat = is_chat_type(entry)

    def row_for(prompt: str) -> dict[str, Any] | None:
        return chat_row(template, entry, prompt, True) if chat else flat_row(template, entry, prompt)

    if row_for("probe") is None:
        return _chat_fallback({}, tokenizer, f"haha finds no question field in a '{strategy.type}' row")

    def encode(prompt: str) -> list[int]:
        text = strategy.transform(row_for(prompt) or {}).prompt
        return list(_tokenize(tokenizer, text)["input_ids"])  # TRL's own tokenization of a text prompt

    return PromptFormat(f"Axolotl's {strategy.rl} transform '{strategy.type}' on a row like the dataset's first: "
                        "its prompt text, tokenized as TRL does", encode)


def grpo_row(template: Mapping[str, Any], prompt: str) -> dict[str, Any]:
    """A GRPO row like the dataset's first holding the eval prompt: its chat turns up to the last user turn (the
    system turn kept), that turn's content replaced; a text `prompt` is replaced whole."""
    turns = template.get("prompt")
    if not isinstance(turns, list):
        return {"prompt": prompt}
    users = [i for i, turn in enumerate(turns) if isinstance(turn, Mapping) and turn.get("role") == "user"]
    if not users:
        return {"prompt": [*copy.deepcopy(turns), {"role": "user", "content": prompt}]}
    kept = copy.deepcopy(turns[: users[-1] + 1])
    kept[-1]["content"] = prompt
    return {"prompt": kept}


def _prompts(template: dict[str, Any], tokenizer: PreTrainedTokenizerBase) -> PromptFormat:
    """GRPO's prompts reach the policy as TRL's GRPOTrainer tokenizes them (`_tokenize_prompts`): chat turns through
    the tokenizer's template with the generation prompt, text as it is; `trl.data_utils._tokenize` is that call."""
    from trl.data_utils import _tokenize

    def encode(prompt: str) -> list[int]:
        turns = grpo_row(template, prompt)["prompt"]
        options = {"add_generation_prompt": True} if isinstance(turns, list) else {}
        return list(_tokenize(tokenizer, turns, **options)["input_ids"])

    return PromptFormat("TRL's GRPO prompt tokenization on a row like the dataset's first (its turns up to the last "
                        "user turn, holding the eval prompt), with the generation prompt", encode)


def _without_eos(tokenized: Any, tokenizer: PreTrainedTokenizerBase) -> list[int]:
    ids = list(tokenized.input_ids) if tokenized is not None else []
    return ids[:-1] if ids and ids[-1] == tokenizer.eos_token_id else ids


def _whole(tokenized: Any) -> list[int]:
    return list(tokenized.input_ids) if tokenized is not None else []


def encode_prompts(config: Mapping[str, Any], template_row: Mapping[str, Any] | None, instructions: Sequence[str],
                   tokenizer: PreTrainedTokenizerBase) -> list[list[int]]:
    """Token ids per prompt, made the way training made its rows."""
    return prompt_format(config, template_row, tokenizer).encode(instructions)


def prompt_example(config: Mapping[str, Any], template_row: Mapping[str, Any] | None, instruction: str,
                   tokenizer: PreTrainedTokenizerBase) -> tuple[str, str]:
    """(method, the exact text the model is shown for `instruction`), for the results file."""
    made = prompt_format(config, template_row, tokenizer)
    return made.method, tokenizer.decode(made.encode_one(instruction), skip_special_tokens=False)


# -- prompts with pictures ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class VisionFormat:
    """How a vision config's eval prompts are made: Axolotl's processing strategy for the config turns a row like the
    dataset's first (the eval text and picture in its first user turn) into messages, and the processor renders them
    with the config's chat template and the generation prompt, as the collator rendered each training row."""

    method: str
    strategy: Any  # axolotl.processing_strategies.ProcessingStrategy
    entry: Mapping[str, Any]
    template: Mapping[str, Any]

    def messages(self, text: str, image: PILImage | None) -> list[dict[str, Any]]:
        """The prompt's turns as Axolotl's strategy makes them (a column image joins the first user turn there)."""
        row = copy.deepcopy(dict(self.template))
        column = next((key for key in IMAGE_COLUMNS if key in row), None)
        field = str(self.entry.get("field_messages") or ("conversations" if "conversations" in row else "messages"))
        user = _first_user_content(row.get(field), self.entry)
        in_turn = None if column else image
        row[field] = _turns(row.get(field), self.entry, _content(user, text, in_turn), None)
        if column:
            row[column] = [image] if image is not None else None
        return list(self.strategy([row])[0]["messages"])

    def encode_one(self, text: str, image: PILImage | None) -> tuple[list[int], ImageInputs]:
        """Token ids and the processor's picture inputs, exactly what the model is shown before its answer."""
        from pipeline.evaluate.sampling import ImageInputs

        processed = self.strategy.processor.apply_chat_template(
            [self.messages(text, image)], add_generation_prompt=True, tokenize=True, return_dict=True,
            return_tensors="pt", chat_template=self.strategy.chat_template)
        return [int(i) for i in processed["input_ids"][0]], ImageInputs.of(dict(processed))


def _first_user_content(turns: Any, entry: Mapping[str, Any]) -> Any:
    role_key, content_key = _message_keys(entry)
    users = [m for m in turns or [] if isinstance(m, Mapping) and not _is_system(m, role_key, entry)]
    return users[0].get(content_key) if users else None


def _content(template: Any, text: str, image: PILImage | None) -> list[dict[str, Any]]:
    """The user turn's parts in the dataset's order (picture first when it has none to copy): its image part holds
    the eval's picture, its text part the eval's text."""
    parts = [p for p in template if isinstance(p, Mapping)] if isinstance(template, list) else []
    kinds = [p.get("type") for p in parts]
    if "text" not in kinds or (image is not None and "image" not in kinds):
        kinds = ["image", "text"]
    made = []
    for kind in kinds:
        if kind == "image" and image is not None:
            made.append({"type": "image", "image": image})
        elif kind == "text":
            made.append({"type": "text", "text": text})
    return made


def vision_format(config: Mapping[str, Any], template_row: Mapping[str, Any] | None, processor: Any,
                  model_type: str) -> VisionFormat:
    """The config's prompts with pictures, made by Axolotl's own processing strategy and chat template."""
    from axolotl.processing_strategies import get_processing_strategy
    from axolotl.utils.chat_templates import get_chat_template_from_config
    from axolotl.utils.dict import DictDefault
    from axolotl.utils.schemas.multimodal import MultiModalConfig

    entries = [e for e in config.get("datasets") or [] if isinstance(e, Mapping)]
    entry = entries[0] if entries else {}
    choice = config.get("chat_template")
    template = (get_chat_template_from_config(cfg=DictDefault(dict(config)), tokenizer=processor.tokenizer)
                if choice else None)
    sizing = MultiModalConfig.model_validate({key: config[key] for key in ("image_size", "image_resize_algorithm")
                                              if config.get(key) is not None})
    with quiet_axolotl():
        strategy = get_processing_strategy(processor, template, choice, image_size=sizing.image_size,
                                           image_resize_algorithm=sizing.image_resize_algorithm,
                                           field_messages=entry.get("field_messages"), model_type=model_type)
    return VisionFormat(f"Axolotl's {type(strategy).__name__} with chat template {choice or 'of the processor'}: the "
                        "picture and the text in the user turn of a row like the dataset's first, generation prompt "
                        "added", strategy, entry, dict(template_row or {}))
