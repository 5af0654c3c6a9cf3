"""Loading configs: `yaml.safe_load` semantics, plus the line of every key for error messages."""

from __future__ import annotations

import copy
import hashlib
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from pipeline.core.errors import HahaError
from pipeline.core.yaml_text import YAMLBudgetError, line_of, non_string_keys, parse_yaml


class ConfigLoadError(HahaError):
    def __init__(self, line: int | None, message: str) -> None:
        super().__init__(message)
        self.line = line
        self.message = message


@dataclass(frozen=True)
class LoadedConfig:
    path: Path
    data: dict[str, Any]
    sha256: str
    # dotted key ("datasets[0].path") -> 1-based line
    lines: dict[str, int] = field(default_factory=dict)
    # (dotted key, line) of each key written again in the same mapping: YAML keeps the last one silently
    repeated: tuple[tuple[str, int], ...] = ()

    def line_of(self, key: str) -> int | None:
        return line_of(self.lines, key)


def config_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@lru_cache(maxsize=4096)
def _parsed(text: str) -> tuple[Any, dict[str, int], tuple[tuple[str, int], ...]]:
    """One parse per distinct text: pending, the plan and validation each read every config, some more than once."""
    data, lines, repeated = parse_yaml(text)
    return data, lines, tuple(repeated)


def load_config(path: Path) -> LoadedConfig:
    """Parse with the safe loader only: a `!!python/...` tag is an error and runs nothing."""
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        line = path.read_bytes()[: exc.start].count(b"\n") + 1
        raise ConfigLoadError(line, f"not UTF-8 text (byte 0x{path.read_bytes()[exc.start]:02x} at byte "
                                    f"{exc.start}); save the file as UTF-8") from None
    try:
        parsed, cached_lines, repeated = _parsed(text)
        # The cached parse stays as read, whatever a caller does with its copy.
        data, lines = copy.deepcopy(parsed), dict(cached_lines)
    except YAMLBudgetError as exc:
        raise ConfigLoadError(exc.line, exc.message) from None
    except yaml.constructor.ConstructorError as exc:
        mark = exc.problem_mark
        why = "configs are plain YAML data, tags are never run" if "tag" in str(exc.problem) else "keys are names"
        raise ConfigLoadError(mark.line + 1 if mark else None, f"refused: {exc.problem}; {why}") from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        raise ConfigLoadError(line, f"not valid YAML: {exc.problem or exc}") from None
    except yaml.YAMLError as exc:
        raise ConfigLoadError(None, f"not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigLoadError(1, "the config must be a YAML mapping of Axolotl keys")
    if bad := non_string_keys(data, lines):
        key, line = bad[0]
        raise ConfigLoadError(line, f"key '{key}' is not a string; Axolotl's keys are names")
    return LoadedConfig(path=path, data=data, sha256=hashlib.sha256(text.encode()).hexdigest(), lines=lines,
                        repeated=tuple(repeated))
