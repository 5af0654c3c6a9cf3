"""Axolotl plugins' own config keys: the arguments an allow-listed plugin declares are part of the schema.

Axolotl merges each registered plugin's args model into its config model (`merge_input_args` in
axolotl/integrations/config.py), so `cut_cross_entropy: true` survives its validation once the CCE plugin is
listed in `plugins`. haha does the same for the plugins `[tool.haha] allowed_plugins` names: their keys are
known and classed as values, and Axolotl's args model judges them. Without the plugin they stay unknown keys.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from functools import cache
from typing import Any

from pydantic import BaseModel

from pipeline.core.settings import Settings


def _import(dotted: str) -> Any:
    module, _, name = dotted.rpartition(".")
    return getattr(importlib.import_module(module), name)


@cache
def plugin_args_model(plugin: str) -> type[BaseModel] | None:
    """The args model the plugin declares (`get_input_args`), or None when it declares none or cannot be read.

    Only called for allow-listed plugins: importing one runs its module, which the repo's settings trust.
    """
    from pipeline.core.quiet import quiet_libraries

    try:
        with quiet_libraries():  # a plugin's module imports kernels libraries that print as they load
            plugin_class = _import(plugin)
            declared = plugin_class.get_input_args(plugin_class.__new__(plugin_class))
            model = _import(declared) if isinstance(declared, str) else None
    except Exception:  # a plugin whose package is not installed here: its keys stay unknown, and the GPU
        return None  # environment check (config/requirements.py) names what is missing
    return model if isinstance(model, type) and issubclass(model, BaseModel) else None


def listed_plugins(data: Mapping[str, Any]) -> list[str]:
    value = data.get("plugins")
    return [value] if isinstance(value, str) else [str(p) for p in value] if isinstance(value, list) else []


def plugin_arg_models(data: Mapping[str, Any], settings: Settings) -> dict[str, type[BaseModel]]:
    """Each config key an allow-listed plugin of this config declares, with the args model that declares it."""
    keys: dict[str, type[BaseModel]] = {}
    for plugin in listed_plugins(data):
        if plugin in settings.allowed_plugins and (model := plugin_args_model(plugin)) is not None:
            for name, field in model.model_fields.items():
                keys[name] = model
                if field.alias:
                    keys[field.alias] = model
    return keys
