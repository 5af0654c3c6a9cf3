"""Axolotl's own dataset strategies, run row by row: what a row holds is judged by the code that trains on it.

Axolotl 0.19 turns a dataset entry into training data along one of two paths, and haha takes the same one:

- **tokenized** (SFT and reward models): `get_dataset_wrapper` (axolotl/utils/data/wrappers.py) picks the
  prompt-tokenizing strategy for the entry's `type` (a built-in like `alpaca`, `chat_template` with its
  `field_messages`/`message_property_mappings`/`roles`, `completion`, `input_output`, `bradley_terry.*`, or a
  user-defined mapping), and each row becomes `input_ids` and `labels`. Rows longer than `sequence_len` and
  rows with no trainable token are then dropped.
- **transformed** (`rl`: dpo, ipo, simpo, orpo, kto): a transform loaded by `rl` (the dpo, orpo or kto
  loaders, as `_load_split` in axolotl/utils/data/rl.py picks them) turns each row into prompt and answer
  text, which `_drop_long_sequences` measures.
- **prompts** (`rl: grpo`): an entry without a `type` reaches TRL's GRPOTrainer as it is (`_load_split`), which
  reads each row's `prompt` (text, or chat messages it formats with the tokenizer's template) and generates the
  answers itself; haha formats the prompt as TRL will.

A row that makes Axolotl's code raise fails validation at its line, in Axolotl's terms (the field it could not
find); a row Axolotl would drop is counted. The tokenizer is the config's own when its files are reachable;
otherwise the embedded model's, loaded by Axolotl with the config's tokenizer settings, which checks a row's
shape but not its length (validation says so).
"""

from __future__ import annotations

import inspect
import logging
import os
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from enum import StrEnum
from functools import partial
from typing import Any

from pipeline.config.kinds import KTO_RL, ONLINE_RL, PAIRWISE_RL

# The Axolotl `rl` values whose data is transformed text pairs (prompt, chosen, rejected), and KTO's
# (prompt, completion, label). Which loader reads each: axolotl/utils/data/rl.py `_load_split`.
RL_TYPES = (*PAIRWISE_RL, *KTO_RL)
# Online RL: rows are prompts only, passed to TRL unchanged.
PROMPT_RL = ONLINE_RL
# The config keys Axolotl's strategies read besides the dataset entry: two configs that agree on these (and on
# the file, the entry and the tokenizer) get the same verdict on every row, so the work is shared.
STRATEGY_KEYS = ("train_on_inputs", "sequence_len", "chat_template", "chat_template_jinja", "chat_template_kwargs",
                 "default_system_message", "rl", "reward_model", "eot_tokens", "train_on_eos", "excess_length_strategy",
                 "tokenizer_use_mistral_common", "orpo_alpha", "rl_beta")


class DataPath(StrEnum):
    """Which of Axolotl's two dataset paths a config's data takes."""

    TOKENIZED = "tokenized"
    TRANSFORMED = "transformed"
    PROMPTS = "prompts"


def data_path(config: Mapping[str, Any]) -> DataPath:
    rl = str(config.get("rl") or "")
    if rl in PROMPT_RL:
        return DataPath.PROMPTS
    return DataPath.TRANSFORMED if rl in RL_TYPES else DataPath.TOKENIZED


def type_name(entry: Mapping[str, Any]) -> str:
    """The entry's `type` as messages name it: a user-defined mapping is Axolotl's `user_defined`."""
    value = entry.get("type")
    return "user_defined" if isinstance(value, Mapping) else str(value)


@contextmanager
def quiet_axolotl() -> Iterator[None]:
    """Axolotl logs a warning with a traceback for a strategy it cannot load and a line per odd row; the verdicts
    are reported by haha instead. Wrap whole loops: `logging.disable` clears every logger's cache, milliseconds
    a call."""
    os.environ.setdefault("AXOLOTL_DO_NOT_TRACK", "1")
    logging.disable(logging.WARNING)
    try:
        yield
    finally:
        logging.disable(logging.NOTSET)


class StrategyError(Exception):
    """Axolotl has no strategy for this entry, or refuses to build one: its message, for the entry's `type`."""


@dataclass(frozen=True)
class Tokenized:
    """One row as training sees it: tokens and the labels Axolotl trains on (-100: not trained)."""

    input_ids: list[int]
    labels: list[int] | None  # None for a reward model's pair, which trains on its score, not on labels

    @property
    def trainable(self) -> bool:
        return self.labels is None or any(label != -100 for label in self.labels)

    def trained_ids(self) -> list[int]:
        """The tokens training learns to say: the answer (and the end-of-text token after it)."""
        return [token for token, label in zip(self.input_ids, self.labels or [], strict=False) if label != -100]

    def prompt_ids(self) -> list[int] | None:
        """The tokens before the first trained one: what the model is shown before it answers."""
        if self.labels is None:
            return None
        first = next((index for index, label in enumerate(self.labels) if label != -100), None)
        return None if first is None else self.input_ids[:first]


@dataclass(frozen=True)
class Transformed:
    """One preference row as Axolotl's transform leaves it: prompt text and the answers, as trained."""

    prompt: str
    answers: tuple[str, ...]  # chosen and rejected, or KTO's one completion


def axolotl_cfg(config: Mapping[str, Any], list_key: str, sequence_len: int) -> Any:
    """The part of the config Axolotl's strategies read, as the DictDefault they expect; the entry's own list is
    `datasets` (Axolotl's transforms read `cfg.datasets[dataset_idx]`)."""
    from axolotl.utils.dict import DictDefault

    picked = {key: config[key] for key in STRATEGY_KEYS if config.get(key) is not None}
    picked["datasets"] = config.get(list_key) or []
    picked["sequence_len"] = sequence_len
    return DictDefault(picked)


class RowStrategy:
    """Axolotl's strategy for one dataset entry, built once and run on each row."""

    def __init__(self, config: Mapping[str, Any], list_key: str, index: int, tokenizer: Any, sequence_len: int):
        from axolotl.utils.dict import DictDefault

        self.tokenizer = tokenizer
        self.path = data_path(config)
        self.rl = str(config.get("rl") or "")
        self.entry = DictDefault(dict((config.get(list_key) or [])[index]))
        self.type = type_name(self.entry)
        self.sequence_len = sequence_len
        self.cfg = axolotl_cfg(config, list_key, sequence_len)
        if self.path is DataPath.PROMPTS:
            if self.entry.get("type") is not None:
                raise StrategyError("haha checks GRPO rows without a `type`: Axolotl then hands each row to TRL as it "
                                    "is, and TRL reads its `prompt`; write the prompts that way")
            self.type = self.rl
            return
        with quiet_axolotl():
            if self.path is DataPath.TRANSFORMED:
                self._transform = self._load_transform(index)
            else:
                self._strategy = self._load_tokenizing()

    # -- building, as Axolotl builds ----------------------------------------------------------------------------

    def _load_tokenizing(self) -> Any:
        from axolotl.utils.data.sft import _parse_dataset_type
        from axolotl.utils.data.wrappers import get_dataset_wrapper
        from datasets import Dataset

        if self.entry.get("type") is None:
            raise StrategyError("an SFT dataset needs a `type` (alpaca, chat_template, completion, ... or a "
                                "user-defined mapping)")
        base, style = _parse_dataset_type(self.entry.type)
        try:
            wrapped, _ = get_dataset_wrapper(self.entry, self.tokenizer, self.cfg, base, Dataset.from_list([]), style)
        except Exception as exc:  # Axolotl raises ValueError for an unknown type, anything for a broken mapping
            raise StrategyError(f"Axolotl cannot build the '{self.type}' strategy: {exc}") from None
        strategy = getattr(wrapped, "prompt_tokenizer", None)
        if strategy is None:
            raise StrategyError(f"Axolotl's '{self.type}' strategy wraps the whole dataset; its rows are not checked "
                                "one by one")
        return strategy

    def _load_transform(self, index: int) -> Callable[[dict[str, Any]], dict[str, Any]]:
        from axolotl.prompt_strategies.dpo import load as load_dpo
        from axolotl.prompt_strategies.kto import load as load_kto
        from axolotl.prompt_strategies.orpo import load as load_orpo

        name = "user_defined.default" if isinstance(self.entry.get("type"), Mapping) else str(self.entry.get("type"))
        loader = {"orpo": load_orpo, "kto": load_kto}.get(self.rl, load_dpo)
        loaded = loader(name, self.cfg, dataset_idx=index)
        if loaded is None:  # Axolotl's own words when training would stop here (utils/data/rl.py)
            raise StrategyError(f"Failed to load dataset transform function for type {name!r} (rl: {self.rl})")
        function = loaded[0] if isinstance(loaded, tuple) else loaded
        if "tokenizer" in inspect.signature(function).parameters:
            function = partial(function, tokenizer=self.tokenizer)
        return function

    # -- running one row -----------------------------------------------------------------------------------------

    def tokenize(self, row: Mapping[str, Any]) -> Tokenized | None:
        """The row as the tokenized path trains on it; None when the strategy's own filter drops it."""
        strategy = self._strategy
        row = dict(row)
        if getattr(strategy, "filter_rows", None) and not strategy.filter_rows(row):
            return None
        if strategy.supports_batched:
            batch = strategy.tokenize_prompt({key: [value] for key, value in row.items()})
            out = {key: value[0] for key, value in batch.items()} if batch else {}
        else:
            out = strategy.tokenize_prompt(row)
        if "input_ids" in out:
            return Tokenized(list(out["input_ids"]), list(out.get("labels") or []) or None)
        pair = [list(out[key]) for key in ("chosen_ids", "rejected_ids") if key in out]  # a Bradley-Terry pair
        return Tokenized(max(pair, key=len) if pair else [], None)

    def transform(self, row: Mapping[str, Any]) -> Transformed:
        """The row as the transformed path trains on it; raises Axolotl's ValueError when a part is missing."""
        from axolotl.utils.data.rl import _drop_long_sequences
        from axolotl.utils.schemas.enums import RLType

        sample = self._transform(dict(row))
        # Axolotl's length filter is also its check that the transform gave every part (it raises otherwise).
        _drop_long_sequences(sample, RLType(self.rl), self.tokenizer, self.sequence_len)
        answers = ("completion",) if self.rl == "kto" else ("chosen", "rejected")
        return Transformed(str(sample["prompt"]), tuple(str(sample[key]) for key in answers))

    def prompt(self, row: Mapping[str, Any]) -> str:
        """The row's `prompt` as GRPOTrainer shows it to the policy: text, or chat messages formatted by the
        tokenizer's template (TRL's own `maybe_apply_chat_template`); raises KeyError when the row has none."""
        from trl.data_utils import maybe_apply_chat_template

        prompt = row["prompt"]
        if not isinstance(prompt, str | list) or not prompt:
            raise ValueError(f"TRL reads `prompt` as text or a list of chat messages, got {prompt!r}")
        return str(maybe_apply_chat_template({"prompt": prompt}, self.tokenizer)["prompt"])

    def length(self, sample: Transformed) -> int:
        """Tokens as `_drop_long_sequences` counts them: the prompt plus the longer answer."""
        return self._count(sample.prompt) + max(self._count(answer) for answer in sample.answers)

    def _count(self, text: str) -> int:
        return len(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def field_messages(self) -> str | None:
        """The row field a chat-template strategy reads its turns from (`field_messages`), when it has one."""
        prompter = getattr(getattr(self, "_strategy", None), "prompter", None)
        name = getattr(prompter, "field_messages", None)
        return name if isinstance(name, str) else None


def row_error(exc: Exception, strategy: RowStrategy) -> tuple[str, str]:
    """(key, message) for an exception Axolotl's strategy raised on a row, naming the field in Axolotl's terms."""
    if isinstance(exc, KeyError) and exc.args:
        name = str(exc.args[0])
        return name, f"missing field '{name}': Axolotl's {strategy.type} strategy reads it"
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    messages = strategy.field_messages()
    if messages is not None and "Messages is null" in text:
        return messages, f"missing field '{messages}' (field_messages): Axolotl says \"{text}\""
    return messages or "row", f"Axolotl's {strategy.type} strategy fails on this row: {type(exc).__name__}: {text}"
