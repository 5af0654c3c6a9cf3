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

# The C parser with the safe constructor: the same tags as `yaml.safe_load` (a `!!python/...` tag is an
# error, never a call), about ten times faster, which matters when a PR touches hundreds of configs.
SafeLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


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


# A config is a page of keys; anything far bigger is an attack on the reader (a 2 KB "billion laughs" file
# expands to billions of nodes through aliases, a thousand nested brackets exhaust Python's recursion).
MAX_CONFIG_BYTES = 1 << 20
MAX_NODES = 100_000  # nodes after aliases are expanded
MAX_DEPTH = 64


class YAMLBudgetError(yaml.YAMLError):
    """The document is too big, too deep or refers to itself; `line` is where the trouble starts."""

    def __init__(self, line: int | None, message: str) -> None:
        super().__init__(message)
        self.line = line
        self.message = message


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [child for pair in node.value for child in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


def check_budget(root: yaml.Node) -> None:
    """Refuse a node graph that would expand past MAX_NODES, nest past MAX_DEPTH, or contain itself.

    Iterative and memoized on node identity, so an alias bomb costs one visit per distinct node.
    """
    size: dict[int, int] = {}
    depth: dict[int, int] = {}
    open_nodes: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        key = id(node)
        if children_done:
            open_nodes.discard(key)
            kids = _children(node)
            size[key] = 1 + sum(size[id(kid)] for kid in kids)
            depth[key] = 1 + max((depth[id(kid)] for kid in kids), default=0)
            line = node.start_mark.line + 1
            if size[key] > MAX_NODES:
                raise YAMLBudgetError(line, f"refused: aliases expand this document past {MAX_NODES:,} values")
            if depth[key] > MAX_DEPTH:
                raise YAMLBudgetError(line, f"refused: nested deeper than {MAX_DEPTH} levels")
            continue
        if key in size:
            continue
        if key in open_nodes:
            raise YAMLBudgetError(node.start_mark.line + 1, "refused: an alias refers to a value that contains it")
        if len(open_nodes) > MAX_DEPTH:
            raise YAMLBudgetError(node.start_mark.line + 1, f"refused: nested deeper than {MAX_DEPTH} levels")
        open_nodes.add(key)
        stack.append((node, True))
        stack.extend((kid, False) for kid in _children(node) if id(kid) not in size)


def parse_yaml(text: str) -> tuple[Any, dict[str, int], list[tuple[str, int]]]:
    """Safe-load `text` once, keeping each key's line and the keys written twice.

    Raises `yaml.YAMLError` for invalid YAML, for any tag the safe constructor does not know, and
    (`YAMLBudgetError`) for documents past the size, depth and alias budgets, before building them.
    """
    if len(text) > MAX_CONFIG_BYTES:
        raise YAMLBudgetError(None, f"refused: larger than {MAX_CONFIG_BYTES:,} characters")
    loader = SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is not None:
            check_budget(node)
        data = loader.construct_document(node) if node is not None else None
    finally:
        loader.dispose()
    lines: dict[str, int] = {}
    repeated: list[tuple[str, int]] = []
    if node is not None:
        _record_lines(node, "", lines, repeated)
    return data, lines, repeated


def non_string_keys(data: Any, lines: dict[str, int], where: str = "") -> list[tuple[str, int | None]]:
    """Mapping keys that are not strings (`1:`, `? [a, b]`): Axolotl's keys are names."""
    found = []
    if isinstance(data, dict):
        for key, value in data.items():
            dotted = f"{where}.{key}" if where else str(key)
            if not isinstance(key, str):
                found.append((dotted, line_of(lines, dotted)))
            found += non_string_keys(value, lines, dotted)
    elif isinstance(data, list):
        for index, item in enumerate(data):
            found += non_string_keys(item, lines, f"{where}[{index}]")
    return found


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
