"""Dataset checks: the JSONL a config trains on, read once per file however many configs share it.

Axolotl drops rows longer than `sequence_len` without a word (and dies with
`num_samples=0` when it drops them all), so when the base model's tokenizer is on disk we
tokenize every row with Axolotl's own prompt strategy and count what would be dropped.
"""

from __future__ import annotations

import json
import logging
import os
from collections import Counter
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from pipeline.problems import Problem, errors

MAX_ROW_PROBLEMS = 20
DEFAULT_FIELDS = {"field_instruction": "instruction", "field_input": "input", "field_output": "output"}


@dataclass
class DatasetStats:
    """What a config's dataset looks like to training; `too_long` is None when not counted."""

    file: str
    rows: int = 0
    duplicates: int = 0
    too_long: int | None = None
    length_check: str = ""
    problems: list[Problem] = field(default_factory=list)


def field_names(dataset_cfg: dict[str, Any]) -> dict[str, str]:
    """The row fields a dataset type reads: the custom type's `field_*` keys, Alpaca's defaults otherwise."""
    type_cfg = dataset_cfg.get("type")
    names = dict(DEFAULT_FIELDS)
    if isinstance(type_cfg, dict):
        names.update({k: v for k, v in type_cfg.items() if k in DEFAULT_FIELDS and isinstance(v, str)})
    return names


def read_rows(path: Path) -> tuple[list[tuple[int, dict[str, Any]]], list[tuple[int, str]]]:
    """JSONL rows with their 1-based line numbers, plus the lines that are not JSON objects."""
    rows, broken = [], []
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                broken.append((number, f"not JSON ({exc.msg} at column {exc.colno})"))
                continue
            if isinstance(row, dict):
                rows.append((number, row))
            else:
                broken.append((number, f"expected a JSON object, got {type(row).__name__}"))
    return rows, broken


def row_problems(
    display: str, rows: list[tuple[int, dict[str, Any]]], broken: list[tuple[int, str]], names: dict[str, str]
) -> tuple[list[Problem], int]:
    """Broken lines, missing or empty fields, and the number of duplicate rows."""
    found = [Problem(display, line, "row", message) for line, message in broken]
    instruction, output = names["field_instruction"], names["field_output"]
    for line, row in rows:
        for role, name in (("instruction", instruction), ("output", output)):
            if name not in row:
                found.append(Problem(display, line, name, f"missing {role} field '{name}'"))
            elif not isinstance(row[name], str) or (role == "output" and not row[name].strip()):
                found.append(Problem(display, line, name, f"{role} must be a non-empty string"))
    if not rows and not broken:
        found.append(Problem(display, None, "rows", "the dataset has no rows"))
    if len(found) > MAX_ROW_PROBLEMS:
        hidden = len(found) - MAX_ROW_PROBLEMS
        found = [*found[:MAX_ROW_PROBLEMS], Problem(display, None, "rows", f"... and {hidden} more row problems")]
    seen = Counter(json.dumps(row, sort_keys=True) for _, row in rows)
    duplicates = sum(count - 1 for count in seen.values())
    return found, duplicates


@cache
def local_tokenizer(base_model: str) -> tuple[Any, str]:
    """The base model's tokenizer if it is on disk (never downloads), else None and the reason."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    if not Path(base_model).is_dir():
        from huggingface_hub import try_to_load_from_cache

        if not isinstance(try_to_load_from_cache(base_model, "tokenizer_config.json"), str):
            return None, f"tokenizer for '{base_model}' is not on this machine (no local folder, not in the HF cache)"
    from transformers import AutoTokenizer

    try:
        return AutoTokenizer.from_pretrained(base_model, local_files_only=True), ""
    except (OSError, ValueError) as exc:
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return None, f"tokenizer for '{base_model}' is not available locally ({first_line[:120]})"


def count_too_long(config: dict[str, Any], dataset_cfg: dict[str, Any], rows: list[dict[str, Any]]) -> tuple[
        int | None, str]:
    """Rows Axolotl would drop for exceeding `sequence_len`, tokenized exactly as training does."""
    base_model = str(config.get("tokenizer_config") or config.get("base_model") or "")
    tokenizer, reason = local_tokenizer(base_model)
    if tokenizer is None:
        return None, f"length check skipped: {reason}"
    os.environ.setdefault("AXOLOTL_DO_NOT_TRACK", "1")
    from axolotl.prompt_strategies import load
    from axolotl.utils.dict import DictDefault

    sequence_len = int(config.get("sequence_len") or 2048)
    cfg = DictDefault({"train_on_inputs": bool(config.get("train_on_inputs")), "sequence_len": sequence_len})
    type_cfg = dataset_cfg.get("type")
    logging.disable(logging.WARNING)
    try:
        if isinstance(type_cfg, dict):
            strategy = load("user_defined", tokenizer, cfg, dict(type_cfg))
        else:
            strategy = load(str(type_cfg), tokenizer, cfg, DictDefault(dataset_cfg))
        if strategy is None:
            return None, f"length check skipped: Axolotl has no prompt strategy '{type_cfg}'"
        lengths = [len(strategy.tokenize_prompt(row)["input_ids"]) for row in rows]
    finally:
        logging.disable(logging.NOTSET)
    return sum(length > sequence_len for length in lengths), f"tokenized with {base_model}"


@cache
def _read_cached(path: Path, mtime_ns: int) -> tuple[list[tuple[int, dict[str, Any]]], list[tuple[int, str]]]:
    return read_rows(path)


def check_dataset(display: str, path: Path, config: dict[str, Any], dataset_cfg: dict[str, Any],
                  count_lengths: bool = True) -> DatasetStats:
    stats = DatasetStats(file=display)
    if not path.is_file():
        stats.problems.append(Problem(display, None, "path", "dataset file does not exist"))
        return stats
    rows, broken = _read_cached(path, path.stat().st_mtime_ns)
    stats.rows = len(rows)
    stats.problems, stats.duplicates = row_problems(display, rows, broken, field_names(dataset_cfg))
    if stats.duplicates:
        stats.problems.append(Problem(display, None, "rows", f"{stats.duplicates} duplicate rows", "warning"))
    if errors(stats.problems) or not count_lengths:
        stats.length_check = "length check skipped: fix the rows first" if errors(stats.problems) else ""
        return stats
    stats.too_long, stats.length_check = count_too_long(config, dataset_cfg, [row for _, row in rows])
    return stats
