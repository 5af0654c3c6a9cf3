"""Config naming rules: `<family>-NNN.yml`, numbers unique and consecutive within a family.

The basename is a config's identity everywhere (W&B run, Hub repo, results file), so the
rules are strict and pure: they look at names only, never at disk.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from pipeline.problems import Problem

CONFIG_NAME = re.compile(r"^(?P<family>[a-z0-9][a-z0-9.]*(?:-[a-z0-9.]+)*?)-(?P<number>\d{3})\.yml$")


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


def basename_of(path: str | Path) -> str:
    """The config's identity: its file name without `.yml`."""
    return Path(path).name.removesuffix(".yml")


def sort_key(path: str | Path) -> tuple[str, int, str]:
    """Family, then numeric order, so 010 follows 009 and misnamed files sort last."""
    name = Path(path).name
    parsed = parse_config_name(name)
    return (parsed.family, parsed.number, name) if parsed else ("~", 0, name)


def check_names(paths: list[Path], display: dict[Path, str] | None = None) -> list[Problem]:
    """Naming problems across a set of config files: bad names, duplicate numbers, gaps."""
    shown = display or {}
    problems: list[Problem] = []
    families: dict[str, dict[int, list[Path]]] = defaultdict(lambda: defaultdict(list))
    for path in paths:
        parsed = parse_config_name(path.name)
        if parsed is None:
            problems.append(
                Problem(
                    shown.get(path, str(path)), None, "filename",
                    f"'{path.name}' is not <family>-NNN.yml (lower-case family, three-digit number, "
                    "extension .yml)",
                )
            )
            continue
        families[parsed.family][parsed.number].append(path)
    for family, numbers in sorted(families.items()):
        for number, same in sorted(numbers.items()):
            if len(same) > 1:
                names = ", ".join(sorted(p.name for p in same))
                for path in same:
                    problems.append(
                        Problem(shown.get(path, str(path)), None, "filename",
                                f"number {number:03d} is used more than once in family '{family}': {names}")
                    )
        present = sorted(numbers)
        missing = sorted(set(range(present[0], present[-1] + 1)) - set(present))
        if missing:
            first = numbers[present[0]][0]
            gap = ", ".join(f"{family}-{n:03d}" for n in missing)
            problems.append(
                Problem(shown.get(first, str(first.parent)), None, "filename",
                        f"family '{family}' skips {gap}; numbers should be consecutive", "warning")
            )
    return problems
