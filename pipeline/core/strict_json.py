"""Strict JSON for files a pull request can write (eval files, results files, uploads to collect).

Python's reader takes `NaN` and `Infinity`, which no browser's `JSON.parse` does (one such value in a results
file blanked the whole index.html), and keeps the last of two equal keys where another reader keeps the
first. Both are refused here, naming the key, so every reader of these files sees the same document.
"""

from __future__ import annotations

import json
from typing import Any


class StrictJsonError(ValueError):
    """JSON that parses but is not strict: `key` is where (`settings[0].temperature`, as problems name keys)."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(f"{key}: {message}" if key else message)
        self.key = key
        self.message = message


class _Constant:
    """Where `NaN` or `Infinity` stood, kept so that its path can be named."""

    def __init__(self, name: str) -> None:
        self.name = name


def _unique(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    for key, value in pairs:
        if key in seen:
            raise StrictJsonError(key, f"'{key}' is written twice in one object; JSON keeps only the last")
        seen[key] = value
    return seen


def _constant_at(value: Any, path: str = "") -> tuple[str, str] | None:
    """The first non-finite number's key (`results[0].score`) and spelling, or None."""
    if isinstance(value, _Constant):
        return path, value.name
    if isinstance(value, dict):
        items = [(f"{path}.{key}" if path else str(key), item) for key, item in value.items()]
    else:
        items = [(f"{path}[{index}]", item) for index, item in enumerate(value)] if isinstance(value, list) else []
    for where, item in items:
        if (found := _constant_at(item, where)) is not None:
            return found
    return None


def loads_strict(text: str) -> Any:
    """The document, or StrictJsonError for a duplicate key or a non-finite number (json.JSONDecodeError and
    RecursionError pass through: the caller words those)."""
    data = json.loads(text, parse_constant=_Constant, object_pairs_hook=_unique)
    if (found := _constant_at(data)) is not None:
        where, name = found
        raise StrictJsonError(where, f"{name} is not a finite number; JSON has no NaN or Infinity")
    return data


def dumps_strict(value: Any, **options: Any) -> str:
    """`json.dumps` that raises ValueError rather than write `NaN` or `Infinity`, which no browser reads back."""
    return json.dumps(value, allow_nan=False, **options)
