"""Loading configs: `yaml.safe_load` semantics, plus the line of every key for error messages."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml


class ConfigLoadError(Exception):
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

    def line_of(self, key: str) -> int | None:
        """The line of `key`, or of its nearest parent that has one."""
        while key:
            if key in self.lines:
                return self.lines[key]
            key = key.rpartition(".")[0] if "." in key else key.rpartition("[")[0]
        return None


def config_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _record_lines(node: yaml.Node, prefix: str, lines: dict[str, int]) -> None:
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = f"{prefix}.{key_node.value}" if prefix else str(key_node.value)
            lines[key] = key_node.start_mark.line + 1
            _record_lines(value_node, key, lines)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            key = f"{prefix}[{index}]"
            lines[key] = item.start_mark.line + 1
            _record_lines(item, key, lines)


def load_config(path: Path) -> LoadedConfig:
    """Parse with the safe loader only: a `!!python/...` tag is an error and runs nothing."""
    text = path.read_text(encoding="utf-8")
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        raise ConfigLoadError(line, f"not safe, valid YAML: {exc.problem or exc}") from None
    except yaml.YAMLError as exc:
        raise ConfigLoadError(None, f"not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigLoadError(1, "the config must be a YAML mapping of Axolotl keys")
    lines: dict[str, int] = {}
    if node is not None:
        _record_lines(node, "", lines)
    return LoadedConfig(path=path, data=data, sha256=hashlib.sha256(text.encode()).hexdigest(), lines=lines)
