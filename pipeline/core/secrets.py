"""Secrets (`HF_TOKEN`, `WANDB_API_KEY`) must never reach logs, configs, model cards, results or W&B.

Every writer of user-visible text passes it through `scrub`, which replaces the live
values of the secret variables wherever they appear.
"""

from __future__ import annotations

import os
from typing import Any

SECRET_ENV_VARS = ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "WANDB_API_KEY")
# Config keys that hold credentials; dropped from anything we write.
SECRET_CONFIG_KEYS = frozenset({"hf_token", "hub_token", "wandb_api_key", "api_key", "token"})
MASK = "***"


def secret_values() -> list[str]:
    # Very short values would mask ordinary words; real tokens are long.
    return [v for name in SECRET_ENV_VARS if len(v := os.environ.get(name, "")) >= 8]


def scrub(text: str) -> str:
    for value in secret_values():
        text = text.replace(value, MASK)
    return text


def scrub_config(data: Any) -> Any:
    """A copy of a config with credential keys dropped and secret values masked."""
    if isinstance(data, dict):
        return {k: scrub_config(v) for k, v in data.items() if str(k).lower() not in SECRET_CONFIG_KEYS}
    if isinstance(data, list):
        return [scrub_config(v) for v in data]
    if isinstance(data, str):
        return scrub(data)
    return data
