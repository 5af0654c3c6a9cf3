"""Reading a JSONL file of one pydantic model per line, with every bad line reported at its number."""

from __future__ import annotations

from pathlib import Path
from typing import TypeVar

from pydantic import BaseModel, ValidationError

from pipeline.core.problems import Problem

Row = TypeVar("Row", bound=BaseModel)


def read_jsonl_models(source: Path, display: str, model: type[Row],
                      noun: str) -> tuple[list[tuple[int, Row]], list[Problem]]:
    """Every line of `source` as a `model` with its 1-based line number, or a problem at each bad line; blank lines
    are skipped."""
    try:
        lines = source.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as exc:
        return [], [Problem(display, None, "path", f"not UTF-8 text ({exc.reason} at byte {exc.start})")]
    rows: list[tuple[int, Row]] = []
    problems: list[Problem] = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            rows.append((number, model.model_validate_json(line)))
        except ValidationError as exc:
            problems += [Problem(display, number, ".".join(str(p) for p in e["loc"]) or "line", e["msg"])
                         for e in exc.errors()]
    if not rows and not problems:
        problems.append(Problem(display, None, "path", f"has no {noun}"))
    return rows, problems
