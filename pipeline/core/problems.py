"""The one shape every check reports in: `file:line: key: message`."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Literal

# A note is information (a check that could not run, and why); it never fails anything.
Severity = Literal["error", "warning", "note"]


@dataclass(frozen=True)
class Problem:
    file: str
    line: int | None
    key: str
    message: str
    severity: Severity = "error"

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        label = "" if self.severity == "error" else f"{self.severity}: "
        return f"{where}: {self.key}: {label}{self.message}"

    def to_json(self) -> dict[str, object]:
        return asdict(self)


def errors(problems: list[Problem]) -> list[Problem]:
    return [p for p in problems if p.severity == "error"]


def warnings(problems: list[Problem]) -> list[Problem]:
    return [p for p in problems if p.severity == "warning"]
