"""Config naming rules: `<family>-NNN.yml`, numbers unique and consecutive within a family.

The basename is a config's identity everywhere (W&B run, Hub repo, results file), so the
rules are strict and pure: they look at names only, never at disk.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from pipeline.core.problems import Problem

# Families are lower-case words joined by single `-` or `.`: the basename must also be a valid Hub repo name
# (no `..` or `--`, at most MAX_BASENAME characters) and W&B run name.
# Every name pattern ends at `\Z`: `$` also matches before a trailing newline, so `foo-001.yml\n` would pass.
CONFIG_NAME = re.compile(r"^(?P<family>[a-z0-9]+(?:[.-][a-z0-9]+)*)-(?P<number>\d{3})\.yml\Z")
MAX_BASENAME = 96  # the Hub's limit on a repo name
# One part of a Hub repo id (an owner or a name): letters, digits, `-`, `_`, `.`, starting and ending alphanumeric.
# Also what keeps a local hub's repo folders inside their hub.
HUB_PART = r"[A-Za-z0-9](?:[A-Za-z0-9_.-]*[A-Za-z0-9])?"
# `org/name` as the Hub spells a repo id: what the index links to and what a config may name as a base model.
HUB_REPO_ID = re.compile(rf"^{HUB_PART}/{HUB_PART}\Z")
# A model id the Hub resolves: `org/name`, or a bare legacy name such as `gpt2`.
HUB_MODEL_ID = re.compile(rf"^(?:{HUB_PART}/)?{HUB_PART}\Z")
# A full git commit id: the only revision that names exactly one state of a Hub repo (a branch or tag can move).
COMMIT_ID = re.compile(r"[0-9a-f]{40}\Z")
LOOKS_LIKE_CONFIG = re.compile(r"\.ya?ml(\.|\Z)")
# What a misnamed file was meant to be (`foo-2.yml`, `foo-002.yml.yaml`): it still takes its number,
# so it collides with `foo-002.yml` and fills the gap it was meant to fill.
INTENDED_NAME = re.compile(r"^(?P<family>.+)-(?P<number>\d+)\.ya?ml\b")


@dataclass(frozen=True, order=True)
class ConfigName:
    family: str
    number: int

    @property
    def basename(self) -> str:
        return f"{self.family}-{self.number:03d}"


def parse_config_name(filename: str) -> ConfigName | None:
    match = CONFIG_NAME.match(filename)
    if not match:
        return None
    return ConfigName(match["family"], int(match["number"]))


def _intended_name(filename: str) -> ConfigName | None:
    match = INTENDED_NAME.match(filename)
    return ConfigName(match["family"], int(match["number"])) if match else None


def family_of(filename: str) -> str | None:
    """The family a file belongs to, or was meant to: a misnamed `foo-2.yml` still collides within foo."""
    parsed = parse_config_name(filename) or _intended_name(filename)
    return parsed.family if parsed else None


def looks_like_config(path: Path) -> bool:
    """Any YAML file, however misnamed (`.yml`, `foo.yml.yaml`), so that nothing in the folder goes unjudged."""
    return bool(LOOKS_LIKE_CONFIG.search(path.name))


def discover(config_dir: Path) -> list[Path]:
    """The config files of a folder: the one list that validate, pending and run all see."""
    if not config_dir.is_dir():
        return []
    return sorted((p for p in config_dir.iterdir() if p.is_file() and looks_like_config(p)), key=sort_key)


def is_basename(value: object) -> bool:
    """A config's basename as other configs and settings name it: `<family>-NNN`, no folders, no suffix."""
    return isinstance(value, str) and parse_config_name(f"{value}.yml") is not None


def name_problem(path: Path) -> str | None:
    """Why a file name cannot be a config's identity (Hub repo, W&B run, results file, run folder), or None."""
    if parse_config_name(path.name) is None:
        return (f"'{path.name}' is not <family>-NNN.yml (lower-case words joined by single '-' or '.', a three-digit "
                "number, extension .yml)")
    if len(basename_of(path)) > MAX_BASENAME:
        return f"'{basename_of(path)}' is longer than {MAX_BASENAME} characters, the Hub's limit for a repo name"
    return None


def basename_of(path: str | Path) -> str:
    """The config's identity: its file name without `.yml`."""
    return Path(path).name.removesuffix(".yml")


def sort_key(path: str | Path) -> tuple[str, int, str]:
    """Family, then numeric order, so 010 follows 009 and misnamed files sort last."""
    name = Path(path).name
    parsed = parse_config_name(name)
    return (parsed.family, parsed.number, name) if parsed else ("~", 0, name)


def _spans(numbers: list[int]) -> str:
    """`2, 5-7`: a gap of hundreds of numbers stays one short line."""
    spans: list[list[int]] = []
    for number in numbers:
        if spans and number == spans[-1][1] + 1:
            spans[-1][1] = number
        else:
            spans.append([number, number])
    return ", ".join(f"{a:03d}" if a == b else f"{a:03d}-{b:03d}" for a, b in spans)


def _family_problems(family: str, numbers: dict[int, list[Path]], shown: dict[Path, str]) -> list[Problem]:
    """Numbers used twice (errors: two configs would share a run, repo and results file) and gaps (warnings)."""
    problems = []
    for number, same in sorted(numbers.items()):
        if len(same) > 1:
            names = ", ".join(sorted(str(shown.get(p, p)) for p in same))
            problems += [Problem(shown.get(path, str(path)), None, "filename",
                                 f"number {number:03d} is used more than once in family '{family}': {names}")
                         for path in same]
    present = sorted(numbers)
    missing = sorted(set(range(present[0], present[-1] + 1)) - set(present))
    if missing:
        first = numbers[present[0]][0]
        problems.append(Problem(shown.get(first, str(first)), None, "filename",
                                f"family '{family}' skips {_spans(missing)}; numbers should be consecutive",
                                "warning"))
    return problems


def check_names(paths: list[Path], display: dict[Path, str] | None = None) -> list[Problem]:
    """Naming problems across a set of config files: bad names, duplicate numbers, gaps."""
    shown = display or {}
    problems: list[Problem] = []
    families: dict[str, dict[int, list[Path]]] = defaultdict(lambda: defaultdict(list))
    for path in paths:
        if (problem := name_problem(path)) is not None:
            problems.append(Problem(shown.get(path, str(path)), None, "filename", problem))
        parsed = parse_config_name(path.name) or _intended_name(path.name)
        if parsed is not None:
            families[parsed.family][parsed.number].append(path)
    for family, numbers in sorted(families.items()):
        problems += _family_problems(family, numbers, shown)
    return problems


def is_hub_id(value: str, *, bare: bool = False) -> bool:
    """Whether `value` is a Hub repo id (`org/name`; with `bare`, also a legacy `name`), never a path with `..`."""
    return bool((HUB_MODEL_ID if bare else HUB_REPO_ID).match(value)) and ".." not in value


def is_commit_id(value: object) -> bool:
    """Whether `value` is a full 40-hex commit id, the one revision form a parent, judge or dataset may pin."""
    return isinstance(value, str) and COMMIT_ID.match(value) is not None


def hub_repo_id(org: str, name: str) -> str:
    """`org/name`, or a ValueError naming the part the Hub would refuse."""
    for part in (org, name):
        if not re.fullmatch(HUB_PART, part) or ".." in part:
            raise ValueError(f"{part!r} is not a valid Hub org or repo name (letters, digits, '-', '_', '.')")
    return f"{org}/{name}"
