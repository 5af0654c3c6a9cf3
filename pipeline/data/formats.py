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


# -- preference pairs (DPO and its relatives, reward models) ----------------------------------------------------------

# The row fields each preference dataset type reads, as Axolotl's transforms index them: (required, optional).
# A type missing here is refused by validation until someone reads its transform and adds it.
PREFERENCE_TYPES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "chatml.intel": (("question", "chosen", "rejected"), ("system",)),
    "llama3.intel": (("question", "chosen", "rejected"), ("system",)),
    "chatml.prompt_pairs": (("prompt", "chosen", "rejected"), ("system",)),
    "llama3.prompt_pairs": (("prompt", "chosen", "rejected"), ("system",)),
    "chatml.icr": (("input", "chosen", "rejected"), ("system",)),
    "llama3.icr": (("input", "chosen", "rejected"), ("system",)),
    # bradley_terry.chat_template reads prompt["system"] unguarded: the key must be there, even if empty.
    "bradley_terry.chat_template": (("system", "input", "chosen", "rejected"), ()),
}


def preference_fields(dataset_cfg: Mapping[str, Any]) -> Fields:
    kind = str(dataset_cfg.get("type") or "")
    required, optional = PREFERENCE_TYPES.get(kind, ((), ()))
    return (("type", kind), *(("required", name) for name in required), *(("optional", name) for name in optional))


def check_preference_row(display: str, line: int, row: Mapping[str, Any], fields: Fields) -> list[Problem]:
    kind = dict(fields)["type"]
    if kind not in PREFERENCE_TYPES:
        known = ", ".join(sorted(PREFERENCE_TYPES))
        return [Problem(display, line, "type", f"haha does not check rows of preference type {kind!r} yet; "
                                               f"known: {known}")]
    found = []
    for role, name in fields:
        if role == "required" and name not in row:
            found.append(Problem(display, line, name, f"missing field '{name}' ({kind} reads it)"))
        elif role in ("required", "optional") and name in row and not isinstance(row[name], str):
            found.append(Problem(display, line, name, f"'{name}' must be a string"))
    for name in ("chosen", "rejected"):
        if isinstance(row.get(name), str) and not row[name].strip():
            found.append(Problem(display, line, name, f"'{name}' is empty: there is nothing to prefer"))
    if isinstance(row.get("chosen"), str) and row.get("chosen") == row.get("rejected"):
        found.append(Problem(display, line, "chosen", "chosen and rejected are the same text: the pair teaches "
                                                      "nothing"))
    return found


PREFERENCE_PAIRS = register_format(RowFormat("preference_pairs", preference_fields, check_preference_row))


# -- raw text (`type: completion`) and labelled segments (`type: input_output`) -------------------------------------

def completion_fields(dataset_cfg: Mapping[str, Any]) -> Fields:
    """The one text field Axolotl's completion strategy reads: `field`, else `text`."""
    field_name = dataset_cfg.get("field")
    return (("text", field_name if isinstance(field_name, str) and field_name else "text"),)


def check_completion_row(display: str, line: int, row: Mapping[str, Any], fields: Fields) -> list[Problem]:
    name = dict(fields)["text"]
    if name not in row:
        return [Problem(display, line, name, f"missing text field '{name}' (type: completion reads it)")]
    if not isinstance(row[name], str) or not row[name].strip():
        return [Problem(display, line, name, f"'{name}' must be non-empty text: it is all the model learns from")]
    return []


COMPLETION = register_format(RowFormat("completion", completion_fields, check_completion_row))


def check_segments_row(display: str, line: int, row: Mapping[str, Any], fields: Fields) -> list[Problem]:
    """`{"segments": [{"label": true|false, "text": "..."}, ...]}`: labelled segments train, the others are context."""
    segments = row.get("segments")
    if not isinstance(segments, list) or not segments:
        return [Problem(display, line, "segments", "needs a non-empty list of {\"label\", \"text\"} segments")]
    found = []
    for index, segment in enumerate(segments):
        where = f"segments[{index}]"
        if not isinstance(segment, dict) or not isinstance(segment.get("text"), str):
            found.append(Problem(display, line, where, "each segment needs a \"text\" string"))
        elif not isinstance(segment.get("label"), bool):
            found.append(Problem(display, line, f"{where}.label", "\"label\" must be true (trained) or false"))
    if not found and not any(segment["label"] for segment in segments):
        found.append(Problem(display, line, "segments", "no segment has \"label\": true, so nothing is trained"))
    return found


INPUT_OUTPUT = register_format(RowFormat("input_output", lambda _cfg: (), check_segments_row))
# Axolotl's SFT dataset types with a row shape of their own; other SFT types read instruction/output rows.
SFT_TYPE_FORMATS = {"completion": COMPLETION, "input_output": INPUT_OUTPUT}


def row_format_for(kind_format: str, dataset_cfg: Mapping[str, Any]) -> RowFormat:
    """The format a dataset's rows are checked with: its training kind's, or for SFT its `type`'s own."""
    if kind_format == INSTRUCTION_OUTPUT.name:
        return SFT_TYPE_FORMATS.get(str(dataset_cfg.get("type")), INSTRUCTION_OUTPUT)
    return ROW_FORMATS[kind_format]
