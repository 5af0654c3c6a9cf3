"""What Axolotl checks when it loads the model, replayed at validation time without the weights.

Some mistakes pass Axolotl's schema and are refused only once the GPU runner loads the
model: `tokens:` with an adapter but without `lora_modules_to_save` covering the model
type's embedding layers, or new special tokens without them. Here Axolotl's own functions
make the same checks, on the base model's config.json and tokenizer (see models/source.py),
or on the configuration class of the `model_type` the config names when those cannot be had.
Axolotl's message is reported at the line of the key it names.

The tokenizer Axolotl builds here (special tokens and new tokens added, chat template set)
is the one training will use, so the length check counts tokens with it.
"""

from __future__ import annotations

import copy
import json
import os
import tempfile
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from pipeline.config.loading import LoadedConfig
from pipeline.config.schema import axolotl_models, axolotl_warnings, key_named_in
from pipeline.core.problems import Problem
from pipeline.models.source import ModelFiles, base_model_files, tokenizer_files

# The keys Axolotl's tokenizer loader reads: configs that agree on them share one loaded tokenizer.
TOKENIZER_KEYS = ("tokenizer_type", "tokenizer_use_fast", "tokenizer_legacy", "special_tokens", "tokens",
                  "added_tokens_overrides", "chat_template", "chat_template_jinja", "default_system_message",
                  "adapter", "lora_modules_to_save", "eot_tokens", "sample_packing", "attn_implementation")
# The keys a message about new tokens is most likely about, when Axolotl quotes none the config has.
TOKEN_KEYS = ("tokens", "special_tokens", "lora_modules_to_save")


@dataclass(frozen=True)
class AxolotlTokenizer:
    """The tokenizer as Axolotl's loader builds it for a config; equal (and cached) by what it was built from."""

    key: str
    source: str  # e.g. "mistralai/Mistral-7B-v0.1 (HF cache)"
    tokenizer: Any = field(compare=False, hash=False, repr=False)


@dataclass
class LoadCheck:
    problems: list[Problem] = field(default_factory=list)
    tokenizer: AxolotlTokenizer | None = None
    model_checked: bool = False  # False when neither the model's config.json nor a `model_type` class was at hand
    skipped: str = ""  # why the tokenizer could not be built, for the length check's note
    settings: str = ""  # the tokenizer settings Axolotl's loader reads (tokenizer_settings): a stand-in's too


def normalized(data: dict[str, Any]) -> Any:
    """The config as Axolotl's loaders see it: validated by its schema, unset keys dropped, in a DictDefault."""
    from axolotl.utils.dict import DictDefault

    model, top_keys, _ = axolotl_models()
    # A deep copy: Axolotl's validators edit what they validate (a chat_template dataset gets an enum written in),
    # and the config is written out for training afterwards.
    known = copy.deepcopy({key: value for key, value in data.items() if key in top_keys})
    with axolotl_warnings():
        return DictDefault(model.model_validate(known).model_dump(exclude_none=True))


def model_config_for(data: dict[str, Any], files: ModelFiles) -> tuple[Any, str]:
    """The base model's configuration from its config.json, else the class the config's `model_type` names."""
    num_labels = data.get("num_labels") if isinstance(data.get("num_labels"), int) else None
    if files.folder is not None:
        return _config_from_folder(str(files.folder), num_labels), ""
    config = _config_of_class(str(data.get("model_type") or ""))
    return (config, "") if config is not None else (None, files.reason)


@cache
def _config_from_folder(folder: str, num_labels: int | None) -> Any:
    """Read once per folder: a thousand configs on one base model read its config.json once."""
    import transformers

    extra = {"num_labels": num_labels} if num_labels else {}
    return transformers.AutoConfig.from_pretrained(folder, trust_remote_code=False, **extra)


@cache
def _config_of_class(model_type: str) -> Any:
    import transformers

    config_class = getattr(getattr(transformers, model_type, None), "config_class", None)
    return config_class() if config_class is not None else None


def _problem(config: LoadedConfig, display: str, message: str, fallback_keys: tuple[str, ...]) -> Problem:
    fallback = next((key for key in fallback_keys if key in config.data), "base_model")
    key = key_named_in(message, config.data, fallback)
    return Problem(display, config.line_of(key), key, f"Axolotl refuses this when it loads the model: {message}")


@cache
def axolotl_tokenizer(model_folder: str, tokenizer_folder: str, settings_json: str) -> AxolotlTokenizer:
    """Axolotl's `load_tokenizer` on local description files; raises what it raises (ValueError for bad tokens)."""
    from axolotl.loaders.tokenizer import load_tokenizer
    from axolotl.utils.dict import DictDefault

    cfg = DictDefault({**json.loads(settings_json), "base_model": model_folder, "base_model_config": model_folder,
                       "tokenizer_config": tokenizer_folder, "trust_remote_code": False})
    with tempfile.TemporaryDirectory(prefix="haha-tokenizer-") as scratch, axolotl_warnings():
        cfg.output_dir = scratch  # `added_tokens_overrides` writes a modified tokenizer there
        tokenizer = load_tokenizer(cfg)
    return AxolotlTokenizer(f"{tokenizer_folder}\0{settings_json}", tokenizer_folder, tokenizer)


def tokenizer_settings(cfg: Any) -> str:
    """The keys Axolotl's tokenizer loader reads, as the cache key of the tokenizer it builds."""
    return json.dumps({key: cfg[key] for key in TOKENIZER_KEYS if cfg.get(key) is not None}, sort_keys=True,
                      default=str)


def stand_in_tokenizer(data: dict[str, Any], settings: str | None = None) -> tuple[AxolotlTokenizer | None, str]:
    """The embedded model's tokenizer, built by Axolotl with the config's tokenizer settings, for checking rows
    whose own tokenizer is out of reach; (None, why) when even that cannot be had.

    It checks a row's shape (the fields the strategy reads, the template it renders) but not its length: counts
    with another vocabulary would mislead. A mistral-common tokenizer's template has no stand-in.
    """
    from pipeline.models.embedded import default_dir, is_prepared

    if data.get("tokenizer_use_mistral_common"):
        return None, "rows not checked either: a mistral-common tokenizer's own template has no stand-in"
    folder = default_dir()
    if not is_prepared(folder):
        return None, "rows not checked either: the embedded model is not prepared (run `haha base-model`)"
    try:
        built = axolotl_tokenizer(str(folder), str(folder), settings or tokenizer_settings(normalized(data)))
    except Exception as exc:  # settings made for the real tokenizer may not fit the stand-in's vocabulary
        return None, f"rows not checked either: Axolotl cannot build a stand-in tokenizer with these settings ({exc})"
    return (AxolotlTokenizer(built.key, "the embedded model's tokenizer (a stand-in)", built.tokenizer),
            "rows checked with the embedded model's tokenizer")


def check_model_load(config: LoadedConfig, display: str) -> LoadCheck:
    """Axolotl's load-time checks on the model config and the tokenizer; the tokenizer it built, when it could."""
    os.environ.setdefault("AXOLOTL_DO_NOT_TRACK", "1")
    from axolotl.loaders.utils import check_model_config

    data = config.data
    cfg = normalized(data)
    result = LoadCheck(settings=tokenizer_settings(cfg))
    model_files = base_model_files(data)
    try:
        model_config, reason = model_config_for(data, model_files)
    except Exception as exc:  # a malformed config.json: transformers raises many kinds
        model_config, reason = None, f"transformers cannot read the config.json of '{model_files.name}' ({exc})"
    if model_config is None:
        result.skipped = reason
        return result
    result.model_checked = True
    try:
        check_model_config(cfg, model_config)
    except ValueError as exc:
        result.problems.append(_problem(config, display, str(exc), TOKEN_KEYS))
    tokenizer_source = tokenizer_files(data)
    if model_files.folder is None or tokenizer_source.folder is None:
        result.skipped = tokenizer_source.reason or model_files.reason
        return result
    try:
        built = axolotl_tokenizer(str(model_files.folder), str(tokenizer_source.folder), result.settings)
    except ValueError as exc:
        result.problems.append(_problem(config, display, str(exc), TOKEN_KEYS))
        result.skipped = "Axolotl refuses the tokenizer settings"
        return result
    except Exception as exc:  # tokenizer loading raises many kinds; it must not crash validation
        result.skipped = f"Axolotl could not load the tokenizer of '{tokenizer_source.name}' ({exc})"
        result.problems.append(Problem(display, config.line_of("base_model"), "base_model", result.skipped,
                                       "warning"))
        return result
    result.tokenizer = AxolotlTokenizer(built.key, f"{tokenizer_source.name} ({tokenizer_source.origin})",
                                        built.tokenizer)
    return result
