"""`haha sweep`'s pure half: the grid a sweep asks for, the numbers its configs take, and each config's text as BASE
with a few values changed in place.

A sweep is how the repo's history was written by hand: 17 configs, most one learning rate or one scheduler setting
apart. Each new config is BASE's own text, comments and formatting kept, with only the swept values rewritten and
a first-line comment naming the sweep, so `git diff BASE NEW` shows exactly what the sweep changed and a reviewer
reads it as they would a hand-written config. The text is never re-dumped from parsed data (that would drop every
comment and reorder nothing-changed lines); every edit is checked by parsing the result and comparing it with BASE's
data plus the one change, so a span computed wrongly is refused, never written.

`--zip` links variables that move together, like Axolotl's dependent `_:` sweep variables: `--set lora_r=8,16
--set lora_alpha=16,32 --zip lora_r,lora_alpha` is two configs (8/16 and 16/32), not four. Pure: text and names in,
text and names out; orchestration/sweeping.py writes and validates.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import yaml

from pipeline.core.budgets import over_budget
from pipeline.core.errors import HahaError, UsageError
from pipeline.core.naming import ConfigName
from pipeline.core.yaml_text import SafeLoader

HEADER_PREFIX = "# haha sweep "
LAST_NUMBER = 999  # three digits: <family>-NNN.yml
# A dotted key as messages name it: `learning_rate`, `datasets[0].type.system_prompt`.
DOTTED_KEY = re.compile(r"[A-Za-z_][\w-]*(?:\[\d+\])*(?:\.[A-Za-z_][\w-]*(?:\[\d+\])*)*\Z")
KEY_PART = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


class SweepError(HahaError):
    """A sweep refused before anything was written; the message names the key (or the setting) to change."""


@dataclass(frozen=True)
class Variable:
    """One `--set KEY=V1,V2`: the key and each value as the YAML text to write."""

    key: str
    values: tuple[str, ...]


def split_values(text: str) -> list[str]:
    """`V1,V2` split at the commas outside brackets and quotes, so `[q_proj,v_proj],[k_proj]` is two values."""
    values, depth, quote, start = [], 0, "", 0
    for at, char in enumerate(text):
        if quote:
            quote = "" if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char in "[{":
            depth += 1
        elif char in "]}":
            depth -= 1
        elif char == "," and depth == 0:
            values.append(text[start:at].strip())
            start = at + 1
    values.append(text[start:].strip())
    return values


def parse_set(option: str) -> Variable:
    """`KEY=V1,V2,...`; each value must be one line of YAML (a scalar or a flow list or mapping)."""
    key, equals, rest = option.partition("=")
    key = key.strip()
    if not equals or not key_parts(key):
        raise UsageError(f"--set {option!r}: write KEY=V1,V2 (a config key, then its values separated by commas)")
    values = split_values(rest)
    for value in values:
        if "\n" in value or "\r" in value:
            raise UsageError(f"--set {key}: {value!r} spans lines; a swept value is one line of YAML")
        try:
            _load(value)
        except yaml.YAMLError as exc:
            raise UsageError(f"--set {key}: {value!r} is not a YAML value: {exc}") from None
    if len(set(values)) != len(values):
        raise UsageError(f"--set {key}: a value is given twice ({', '.join(values)}): two configs would be the same")
    return Variable(key, tuple(values))


def key_parts(key: str) -> list[str | int]:
    """`datasets[0].type` as ["datasets", 0, "type"]; empty when the key is not written that way."""
    if not DOTTED_KEY.match(key):
        return []
    return [match.group(1) if match.group(1) is not None else int(match.group(2))
            for match in KEY_PART.finditer(key)]


Assignment = dict[str, str]  # key -> the value's YAML text, in --set order


def grid(variables: Sequence[Variable], zips: Sequence[Sequence[str]]) -> list[Assignment]:
    """Every combination, the first --set varying slowest; keys zipped together move in step."""
    by_key = {variable.key: variable for variable in variables}
    if len(by_key) != len(variables):
        twice = sorted({v.key for v in variables if sum(w.key == v.key for w in variables) > 1})
        raise UsageError(f"--set {twice[0]}: given twice; list all its values in one --set")
    group_of: dict[str, int] = {}
    groups: list[list[str]] = []
    for zipped in zips:
        for key in zipped:
            if key not in by_key:
                raise UsageError(f"--zip {','.join(zipped)}: {key} has no --set")
            if key in group_of:
                raise UsageError(f"--zip: {key} is zipped twice")
        counts = {len(by_key[key].values) for key in zipped}
        if len(counts) > 1:
            shown = ", ".join(f"{key} has {len(by_key[key].values)}" for key in zipped)
            raise UsageError(f"--zip {','.join(zipped)}: zipped keys need as many values each ({shown})")
        for key in zipped:
            group_of[key] = len(groups)
        groups.append(list(zipped))
    order: list[list[str]] = []  # groups in the order their first key was --set
    for variable in variables:
        if variable.key not in group_of:
            order.append([variable.key])
        elif (group := groups[group_of[variable.key]]) not in order:
            order.append(group)
    axes = [[{key: by_key[key].values[index] for key in group} for index in range(len(by_key[group[0]].values))]
            for group in order]
    return [{key: step[key] for step in combination for key in step} for combination in itertools.product(*axes)]


def check_size(assignments: Sequence[Assignment], cap: int) -> None:
    """A grid larger than `[tool.haha.budgets] sweep_configs` is refused before anything is written."""
    if (message := over_budget("the grid's number of configs", len(assignments), cap, "sweep_configs")) is not None:
        raise SweepError(f"sweep_configs: {message}; fewer values, or --zip keys that move together")


def next_names(base: ConfigName, taken: Iterable[int], count: int) -> list[ConfigName]:
    """The next `count` numbers of BASE's family after the highest it has; refused past 999."""
    first = max([base.number, *taken]) + 1
    last = first + count - 1
    if last > LAST_NUMBER:
        raise SweepError(f"filename: family '{base.family}' would need {first:03d}-{last} for {count} configs, but "
                         f"config numbers stop at {LAST_NUMBER} (<family>-NNN.yml): start a new family")
    return [ConfigName(base.family, number) for number in range(first, last + 1)]


def header(base: str, names: Sequence[ConfigName], assignment: Mapping[str, str]) -> str:
    """The first line of each new config: which sweep made it, and its values."""
    span = names[0].basename if len(names) == 1 else f"{names[0].basename}..{names[-1].number:03d}"
    values = ", ".join(f"{key}={value}" for key, value in assignment.items())
    return f"{HEADER_PREFIX}of {base} ({span}): {values}"


def with_header(text: str, line: str) -> str:
    """`line` as the text's first line; a first line an earlier sweep wrote is replaced, not stacked."""
    first, _, rest = text.partition("\n")
    if first.startswith(HEADER_PREFIX):
        return f"{line}\n{rest}"
    return f"{line}\n{text}" if text else f"{line}\n"


def _node_at(root: yaml.Node, parts: Sequence[str | int]) -> tuple[yaml.Node | None, yaml.Node | None]:
    """(key node, value node) at the dotted path; (None, None) when the path is not in the document."""
    node, key_node = root, None
    for part in parts:
        if isinstance(part, int):
            if not isinstance(node, yaml.SequenceNode) or part >= len(node.value):
                return None, None
            key_node, node = None, node.value[part]
        else:
            if not isinstance(node, yaml.MappingNode):
                return None, None
            found = [(k, v) for k, v in node.value if isinstance(k, yaml.ScalarNode) and k.value == part]
            if not found:
                return None, None
            key_node, node = found[-1]
    return key_node, node


def _content_end(text: str, node: yaml.Node) -> int:
    """Where the node's own text ends: a block collection at its last item, never the comments that follow it."""
    if isinstance(node, yaml.SequenceNode | yaml.MappingNode) and not node.flow_style and node.value:
        last = node.value[-1]
        return _content_end(text, last[1] if isinstance(last, tuple) else last)
    end = node.end_mark.index
    return node.start_mark.index + len(text[node.start_mark.index:end].rstrip())


def set_value(text: str, key: str, value: str) -> str:
    """`text` with `key`'s value written as `value`, every other character kept; a top-level key BASE does not set
    is added at the end. A SweepError names the key when it cannot be changed in place."""
    parts = key_parts(key)
    if not parts:
        raise SweepError(f"{key}: not a config key (write `learning_rate`, or `datasets[0].type` for nested keys)")
    root = yaml.compose(text, Loader=SafeLoader)
    if not isinstance(root, yaml.MappingNode):
        raise SweepError(f"{key}: the base config is not a YAML mapping")
    key_node, node = _node_at(root, parts)
    if node is None:
        if len(parts) > 1:
            raise SweepError(f"{key}: the base config does not set it; a sweep adds only top-level keys")
        return f"{text}{'' if text.endswith(chr(10)) or not text else chr(10)}{key}: {value}\n"
    start, end = node.start_mark.index, _content_end(text, node)
    if key_node is not None and (start == end or (isinstance(node, yaml.SequenceNode | yaml.MappingNode)
                                                  and not node.flow_style)):
        # `key:` with nothing after it, or a block list or mapping: the new value goes after the colon.
        start = text.index(":", key_node.end_mark.index) + 1
        return f"{text[:start]} {value}{text[end:]}" if value else f"{text[:start]}{text[end:]}"
    return f"{text[:start]}{value}{text[end:]}"


def _load(text: str) -> Any:
    """`yaml.safe_load` with the C parser when there is one (the same tags and character positions, ten times as
    fast: a sweep parses each of its configs three times)."""
    return yaml.load(text, Loader=SafeLoader)  # the safe constructor, C or Python


def _assign(data: Any, parts: Sequence[str | int], value: Any) -> None:
    for part in parts[:-1]:
        data = data[part]
    data[parts[-1]] = value


def render(base_text: str, base: str, names: Sequence[ConfigName], assignment: Mapping[str, str]) -> str:
    """One config of the sweep: BASE's text with the assignment's values and the sweep's header line.

    The result is parsed and compared with BASE's data plus exactly these changes; anything else (an anchor
    shared with another key, a value that spilled into the next line) is refused with the key.
    """
    text = base_text
    expected = _load(base_text)
    for key, value in assignment.items():
        text = set_value(text, key, value)
        _assign(expected, key_parts(key), _load(value))
    text = with_header(text, header(base, names, assignment))
    try:
        written = _load(text)
    except yaml.YAMLError as exc:
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise SweepError(f"{', '.join(assignment)}: cannot be changed in place: the edited text is not valid YAML "
                         f"({problem}; an anchor or alias on its value?); edit it by hand") from None
    if written != expected:
        changed = [key for key in assignment if _get(written, key_parts(key)) != _load(assignment[key])]
        raise SweepError(f"{', '.join(changed or assignment)}: cannot be changed in place without changing other "
                         "keys (an anchor or alias shares its value?); edit it by hand")
    return text


def _get(data: Any, parts: Sequence[str | int]) -> Any:
    try:
        for part in parts:
            data = data[part]
    except (KeyError, IndexError, TypeError):
        return None
    return data


@dataclass(frozen=True)
class PlannedConfig:
    name: ConfigName
    values: Assignment
    text: str


def plan_sweep(base_text: str, base: ConfigName, taken: Iterable[int], variables: Sequence[Variable],
               zips: Sequence[Sequence[str]], cap: int) -> list[PlannedConfig]:
    """Every config the sweep writes, with its name and text; a SweepError or UsageError before any is written."""
    assignments = grid(variables, zips)
    check_size(assignments, cap)
    names = next_names(base, taken, len(assignments))
    return [PlannedConfig(name, values, render(base_text, base.basename, names, values))
            for name, values in zip(names, assignments, strict=True)]

