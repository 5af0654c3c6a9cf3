"""YAML text with its line numbers: the safe, budgeted parse that configs and eval files share, and the line of
each dotted key ("datasets[0].path") for messages that point at the file.

Configs and eval files are written by pull requests, so the parse refuses tags, alias bombs and deep nesting
before building anything (see `check_budget`).
"""

from __future__ import annotations

from typing import Any

import yaml

# The C parser with the safe constructor: the same tags as `yaml.safe_load` (a `!!python/...` tag is an
# error, never a call), about ten times faster, which matters when a PR touches hundreds of configs.
SafeLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def line_of(lines: dict[str, int], key: str) -> int | None:
    """The line of dotted `key` ("settings[1].top_p"), or of its nearest parent that has one."""
    while key:
        if key in lines:
            return lines[key]
        key = key.rpartition(".")[0] if "." in key.rpartition("]")[2] else key.rpartition("[")[0]
    return None


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




def key_lines(text: str) -> dict[str, int]:
    """Each key's line, read by the YAML parser (JSON is YAML); empty if it cannot read this JSON."""
    try:
        return parse_yaml(text)[1]
    except yaml.YAMLError:
        return {}
