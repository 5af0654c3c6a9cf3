"""Row formats as a registry: what one JSONL row of a dataset must hold, by the dataset's training kind.

A format reads the field names a dataset entry maps (a custom type's `field_*` keys) and checks
one row against them, naming the line and the field. rows.py does the rest for every format:
unreadable lines, empty files, duplicates, lengths.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from pipeline.core.problems import Problem

Fields = tuple[tuple[str, str], ...]  # (role, field name) pairs: hashable, so checked files can be cached


@dataclass(frozen=True)
class RowFormat:
    name: str
    fields: Callable[[Mapping[str, Any]], Fields]  # a dataset entry -> the row fields it reads
    check_row: Callable[[str, int, Mapping[str, Any], Fields], list[Problem]]  # display, line, row, fields


ROW_FORMATS: dict[str, RowFormat] = {}


def register_format(row_format: RowFormat) -> RowFormat:
    ROW_FORMATS[row_format.name] = row_format
    return row_format


# -- instruction / output (Alpaca, and Axolotl's user-defined field mappings) -----------------------------------------

ALPACA_FIELDS = {"field_instruction": "instruction", "field_input": "input", "field_output": "output"}


def instruction_fields(dataset_cfg: Mapping[str, Any]) -> Fields:
    """The custom type's `field_*` keys over Alpaca's defaults."""
    type_cfg = dataset_cfg.get("type")
    names = dict(ALPACA_FIELDS)
    if isinstance(type_cfg, Mapping):
        names.update({k: v for k, v in type_cfg.items() if k in ALPACA_FIELDS and isinstance(v, str)})
    return tuple(names.items())


def check_instruction_row(display: str, line: int, row: Mapping[str, Any], fields: Fields) -> list[Problem]:
    names = dict(fields)
    instruction, output = names["field_instruction"], names["field_output"]
    found = []
    if instruction not in row:
        found.append(Problem(display, line, instruction, f"missing instruction field '{instruction}'"))
    elif not isinstance(row[instruction], str):
        found.append(Problem(display, line, instruction, "instruction must be a string"))
    if output not in row:
        found.append(Problem(display, line, output, f"missing output field '{output}'"))
    elif not isinstance(row[output], str) or not row[output].strip():
        found.append(Problem(display, line, output, "output must be a non-empty string: it is what the model "
                                                    "learns to say"))
    return found


INSTRUCTION_OUTPUT = register_format(RowFormat("instruction_output", instruction_fields, check_instruction_row))
