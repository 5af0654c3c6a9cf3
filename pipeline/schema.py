"""Axolotl's own schema, used the way Axolotl won't: unknown keys are errors.

Axolotl 0.19 validates with pydantic models that ignore extra keys, so a typo such as
`lerning_rate` silently falls back to the default. We check keys against the models'
fields (and aliases) ourselves, then let `AxolotlInputConfig` judge the values.
"""

from __future__ import annotations

import difflib
import logging
import os
from collections.abc import Iterable
from functools import cache
from typing import Any

from pydantic import BaseModel, ValidationError

from pipeline.configs import LoadedConfig
from pipeline.problems import Problem


def _known_keys(model: type[BaseModel]) -> frozenset[str]:
    keys = set(model.model_fields)
    keys.update(f.alias for f in model.model_fields.values() if f.alias)
    return frozenset(keys)


@cache
def _models() -> tuple[type[BaseModel], frozenset[str], frozenset[str], frozenset[str]]:
    # Axolotl reaches for the network and telemetry on import unless told not to.
    os.environ.setdefault("AXOLOTL_DO_NOT_TRACK", "1")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from axolotl.utils.schemas.config import AxolotlInputConfig
    from axolotl.utils.schemas.datasets import SFTDataset, UserDefinedPrompterType

    return (AxolotlInputConfig, _known_keys(AxolotlInputConfig), _known_keys(SFTDataset),
            _known_keys(UserDefinedPrompterType))


def _unknown(
    keys: Iterable[str], known: frozenset[str], where: str, config: LoadedConfig, display: str
) -> list[Problem]:
    problems = []
    for key in keys:
        if key in known:
            continue
        dotted = f"{where}.{key}" if where else key
        close = difflib.get_close_matches(key, known, n=1, cutoff=0.75)
        hint = f"; did you mean '{close[0]}'?" if close else ""
        problems.append(
            Problem(display, config.line_of(dotted), dotted,
                    f"unknown key (Axolotl would silently ignore it){hint}")
        )
    return problems


def _dotted(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif not str(part).startswith(("function-", "tagged-union", "list[", "dict[")):
            out += f".{part}" if out else str(part)
    return out


def check_schema(config: LoadedConfig, display: str) -> list[Problem]:
    """Unknown keys (top level, datasets, custom dataset types), then Axolotl's value validation."""
    model, top_keys, dataset_keys, type_keys = _models()
    data = config.data
    problems = _unknown(data, top_keys, "", config, display)
    for index, dataset in enumerate(data.get("datasets") or []):
        if isinstance(dataset, dict):
            problems += _unknown(dataset, dataset_keys, f"datasets[{index}]", config, display)
            if isinstance(dataset.get("type"), dict):
                problems += _unknown(
                    dataset["type"], type_keys, f"datasets[{index}].type", config, display
                )
    known_only = {k: v for k, v in data.items() if k in top_keys}
    logging.disable(logging.WARNING)  # deprecation chatter is not a verdict on the config
    try:
        model.model_validate(known_only)
    except ValidationError as exc:
        for error in exc.errors():
            key = _dotted(tuple(error["loc"])) or "config"
            problems.append(Problem(display, config.line_of(key), key, error["msg"]))
    except (ValueError, TypeError) as exc:
        problems.append(Problem(display, None, "config", f"Axolotl rejects the config: {exc}"))
    finally:
        logging.disable(logging.NOTSET)
    return problems
