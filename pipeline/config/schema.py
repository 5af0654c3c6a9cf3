"""Axolotl's own schema, used the way Axolotl won't: unknown keys are errors.

Axolotl 0.19 validates with pydantic models that ignore extra keys, so a typo such as
`lerning_rate` silently falls back to the default. We check keys against the models'
fields (and aliases) ourselves, then let `AxolotlInputConfig` judge the values.
"""

from __future__ import annotations

import copy
import difflib
import logging
import os
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from functools import cache
from typing import Any

from pydantic import BaseModel, TypeAdapter, ValidationError

from pipeline.config.kinds import SFT, find_kind
from pipeline.config.loading import LoadedConfig
from pipeline.config.policy_table import HAHA, PLUGIN_KEYS
from pipeline.config.rules import dataset_entries
from pipeline.core.problems import Problem


def _known_keys(model: type[BaseModel]) -> frozenset[str]:
    keys = set(model.model_fields)
    keys.update(f.alias for f in model.model_fields.values() if f.alias)
    return frozenset(keys)


@cache
def axolotl_models() -> tuple[type[BaseModel], frozenset[str], frozenset[str]]:
    """Axolotl's config model, its top-level keys and a custom dataset type's keys; the first call imports
    Axolotl (seconds)."""
    # Axolotl sends telemetry unless told not to. HF_HUB_OFFLINE is deliberately left alone: it is read
    # once per process, and `haha run` publishes to and downloads from the Hub after validating.
    os.environ.setdefault("AXOLOTL_DO_NOT_TRACK", "1")
    from axolotl.utils.schemas.config import AxolotlInputConfig
    from axolotl.utils.schemas.datasets import UserDefinedPrompterType

    return AxolotlInputConfig, _known_keys(AxolotlInputConfig), _known_keys(UserDefinedPrompterType)


PRETRAINING_LIST, PRETRAINING_MODEL = "pretraining_dataset", "PretrainingDataset"


@cache
def dataset_keys(model_name: str) -> frozenset[str]:
    """The keys of one of Axolotl's dataset models (a training kind's `dataset_model`)."""
    from axolotl.utils.schemas import datasets

    return _known_keys(getattr(datasets, model_name))


def schema_keys(data: Mapping[str, Any]) -> tuple[frozenset[str], frozenset[str]]:
    """Top-level keys and the dataset keys of this config's training kind (SFT's for a kind haha lacks).

    Axolotl's `datasets` is a union of its dataset models, and an entry with SFT keys validates as SFTDataset and
    keeps them: its DPO transforms read `message_property_mappings` and `roles` that DPODataset lacks. So every
    kind's entries also know SFT's keys.
    """
    own = dataset_keys((find_kind(data) or SFT).dataset_model)
    return axolotl_models()[1], own | dataset_keys(SFT.dataset_model)


def is_empty(value: Any) -> bool:
    """A key written with nothing after it (`debug:`), as Axolotl's example boilerplate leaves dozens."""
    return value is None or value == "" or value == [] or value == {}


def _unknown(
    mapping: Mapping[str, Any], known: frozenset[str], where: str, config: LoadedConfig, display: str
) -> list[Problem]:
    """Unknown keys with a value are errors (a typo silently falls back to the default); empty ones are harmless
    leftovers, so only a warning."""
    problems = []
    for key, value in mapping.items():
        if key in known:
            continue
        dotted = f"{where}.{key}" if where else key
        if is_empty(value):
            problems.append(Problem(display, config.line_of(dotted), dotted,
                                    "unknown key with no value: ignored by Axolotl; delete it", "warning"))
            continue
        close = difflib.get_close_matches(str(key), known, n=1, cutoff=0.75)
        hint = f"; did you mean '{close[0]}'?" if close else ""
        problems.append(
            Problem(display, config.line_of(dotted), dotted,
                    f"unknown key (Axolotl would silently ignore it){hint}")
        )
    return problems


def _is_branch(part: Any) -> bool:
    """A union member's name in an error location (keys are snake_case, models CamelCase)."""
    return isinstance(part, str) and part[:1].isupper()


def _dotted(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif not _is_branch(part) and not str(part).startswith(("function-", "tagged-union", "list[", "dict[")):
            out += f".{part}" if out else str(part)
    return out


class _Captured(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@contextmanager
def axolotl_warnings() -> Iterator[list[str]]:
    """Collect what Axolotl logs at WARNING and above (its deprecation advice among it) instead of printing it."""
    logger = logging.getLogger("axolotl")
    handler = _Captured()
    saved = logger.propagate, logger.handlers[:]
    logger.handlers = [handler]
    logger.propagate = False
    try:
        yield handler.messages
    finally:
        logger.propagate, logger.handlers = saved


BACKTICKED = re.compile(r"`([A-Za-z_][\w.]*)")
SNAKE_CASE = re.compile(r"\b[a-z]+(?:_[a-z0-9]+)+\b")  # a key named without backticks ("Setting chat_template ...")


def key_named_in(message: str, data: Mapping[str, Any], fallback: str) -> str:
    """The config key a message of Axolotl's is about: the first one it quotes in backticks that the config has."""
    for name in [*BACKTICKED.findall(message), *SNAKE_CASE.findall(message)]:
        if name in data:
            return str(name)
    return fallback


def _deprecations(model: type[BaseModel], data: Mapping[str, Any], logged: list[str], config: LoadedConfig,
                  display: str) -> list[Problem]:
    """Axolotl's deprecation advice, quoted: what it logged while validating, else the schema's own note."""
    advice: dict[str, str] = {}
    for message in dict.fromkeys(logged):
        advice.setdefault(key_named_in(message, data, "config"), message)
    for key, field in model.model_fields.items():
        if field.deprecated and key in data and not is_empty(data[key]):
            advice.setdefault(key, f"deprecated by Axolotl: {field.deprecated}")
    return [Problem(display, config.line_of(key), key, message, "warning") for key, message in advice.items()]


def _value_errors(model: type[BaseModel], data: dict[str, Any], config: LoadedConfig,
                  display: str) -> list[Problem]:
    """Axolotl's own verdict on the values, one problem per key, then its deprecation advice."""
    with axolotl_warnings() as logged:
        problems = _validate(model, copy.deepcopy(data), config, display)  # Axolotl's validators edit their input
    return problems + _deprecations(model, data, logged, config, display)


def _validate(model: type[BaseModel], data: dict[str, Any], config: LoadedConfig, display: str) -> list[Problem]:
    """Axolotl's datasets are a union of models; errors from branches other than the config's training kind's
    (DPODataset, KTODataset for an SFT config) are noise about a shape nobody wrote, so they are left out."""
    branch = (find_kind(data) or SFT).dataset_model
    try:
        model.model_validate(data)
    except ValidationError as exc:
        found = exc.errors()
        own = [e for e in found if not any(_is_branch(part) and part != branch for part in e["loc"])]
        problems = []
        for error in own or found:
            key = _dotted(tuple(error["loc"])) or key_named_in(error["msg"], data, "config")
            problems.append(Problem(display, config.line_of(key), key, error["msg"]))
        return list(dict.fromkeys(problems))
    except Exception as exc:  # Axolotl's validators read raw values: a wrong shape raises anything (`trl: x`)
        key = _culprit(model, data, exc)
        detail = str(exc) if isinstance(exc, ValueError | TypeError) else f"{type(exc).__name__}: {exc}"
        return [Problem(display, None if key is None else config.line_of(key), key or "config",
                        f"Axolotl rejects the config: {detail}")]
    return []


def _culprit(model: type[BaseModel], data: dict[str, Any], exc: Exception) -> str | None:
    """The key a validator's crash is about: the first whose value its own field's type refuses (`trl: x`, which the
    GRPO validator reads as a mapping), else one the message names."""
    for key, value in data.items():
        field = model.model_fields.get(key)
        if field is None:
            continue
        try:
            TypeAdapter(field.annotation).validate_python(copy.deepcopy(value))
        except Exception:  # any refusal of the value marks the key
            return key
    return key_named_in(str(exc), data, "") or None


def check_schema(config: LoadedConfig, display: str,
                 plugin_args: Mapping[str, type[BaseModel]] | None = None) -> list[Problem]:
    """Unknown keys (top level, dataset entries, custom dataset types), then Axolotl's value validation.

    `plugin_args` are the keys the config's allow-listed plugins declare (config/plugins.py), with the args
    model that judges each, as Axolotl merges them into its schema.
    """
    model, top_keys, type_keys = axolotl_models()
    data = config.data
    plugin_args = plugin_args or {}
    known = top_keys | frozenset(HAHA) | frozenset(PLUGIN_KEYS) | frozenset(plugin_args)
    problems = _unknown(data, known, "", config, display)
    model = with_plugins(model, tuple(dict.fromkeys(plugin_args.values())))
    _, entry_keys = schema_keys(data)
    for dataset in dataset_entries(data):
        # pretraining_dataset entries have their own, smaller model (text_column, skip); the others the kind's.
        known = dataset_keys(PRETRAINING_MODEL) if dataset.list_key == PRETRAINING_LIST else entry_keys
        problems += _unknown(dataset.entry, known, dataset.where, config, display)
        if isinstance(dataset.entry.get("type"), dict):
            problems += _unknown(dataset.entry["type"], type_keys, f"{dataset.where}.type", config, display)
    judged = top_keys | frozenset(plugin_args)
    return problems + _value_errors(model, {k: v for k, v in data.items() if k in judged}, config, display)


@cache
def with_plugins(model: type[BaseModel], args_models: tuple[type[BaseModel], ...]) -> type[BaseModel]:
    """Axolotl's config model with the plugins' args models mixed in, as its `merge_input_args` builds it: the
    plugins' validators read the config's own fields."""
    if not args_models:
        return model
    return type("AxolotlInputConfigWithPlugins", (model, *args_models), {})
