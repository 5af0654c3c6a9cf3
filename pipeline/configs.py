"""Loading configs: `yaml.safe_load` semantics, plus the line of every key for error messages."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

# The C parser with the safe constructor: the same tags as `yaml.safe_load` (a `!!python/...` tag is an
# error, never a call), about ten times faster, which matters when a PR touches hundreds of configs.
SafeLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


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
    # (dotted key, line) of each key written again in the same mapping: YAML keeps the last one silently
    repeated: tuple[tuple[str, int], ...] = ()

    def line_of(self, key: str) -> int | None:
        return line_of(self.lines, key)


def line_of(lines: dict[str, int], key: str) -> int | None:
    """The line of dotted `key` ("settings[1].top_p"), or of its nearest parent that has one."""
    while key:
        if key in lines:
            return lines[key]
        key = key.rpartition(".")[0] if "." in key.rpartition("]")[2] else key.rpartition("[")[0]
    return None


def config_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _record_lines(node: yaml.Node, prefix: str, lines: dict[str, int], repeated: list[tuple[str, int]]) -> None:
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = f"{prefix}.{key_node.value}" if prefix else str(key_node.value)
            if key in lines:
                repeated.append((key, key_node.start_mark.line + 1))
            lines[key] = key_node.start_mark.line + 1
            _record_lines(value_node, key, lines, repeated)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            key = f"{prefix}[{index}]"
            lines[key] = item.start_mark.line + 1
            _record_lines(item, key, lines, repeated)


def parse_yaml(text: str) -> tuple[Any, dict[str, int], list[tuple[str, int]]]:
    """Safe-load `text` once, keeping each key's line and the keys written twice.

    Raises `yaml.YAMLError` for invalid YAML and for any tag the safe constructor does not know.
    """
    loader = SafeLoader(text)
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    finally:
        loader.dispose()
    lines: dict[str, int] = {}
    repeated: list[tuple[str, int]] = []
    if node is not None:
        _record_lines(node, "", lines, repeated)
    return data, lines, repeated


def load_config(path: Path) -> LoadedConfig:
    """Parse with the safe loader only: a `!!python/...` tag is an error and runs nothing."""
    text = path.read_text(encoding="utf-8")
    try:
        data, lines, repeated = parse_yaml(text)
    except yaml.constructor.ConstructorError as exc:
        mark = exc.problem_mark
        raise ConfigLoadError(mark.line + 1 if mark else None,
                              f"refused: {exc.problem}; configs are plain YAML data, tags are never run") from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        raise ConfigLoadError(line, f"not valid YAML: {exc.problem or exc}") from None
    except yaml.YAMLError as exc:
        raise ConfigLoadError(None, f"not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigLoadError(1, "the config must be a YAML mapping of Axolotl keys")
    return LoadedConfig(path=path, data=data, sha256=hashlib.sha256(text.encode()).hexdigest(), lines=lines,
                        repeated=tuple(repeated))
