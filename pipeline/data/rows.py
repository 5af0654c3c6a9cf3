"""Dataset checks: the JSONL or CSV a config trains on, read once per file however many configs share it.

Axolotl drops rows longer than `sequence_len` without a word (and dies with
`num_samples=0` when it drops them all), so when the base model's tokenizer is on disk we
tokenize every row with Axolotl's own prompt strategy and count what would be dropped.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import math
import os
from collections import Counter
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from pipeline.config.load_checks import AxolotlTokenizer
from pipeline.core.problems import Problem, errors
from pipeline.data.formats import ROW_FORMATS, Fields, RowFormat

MAX_ROW_PROBLEMS = 20
UNTRUNCATED = 1 << 20  # a sequence_len no row reaches: tokenizing at it gives each row's whole length


@dataclass(frozen=True)
class Lengths:
    """Row lengths in tokens as training will count them, against one `sequence_len`."""

    counted: int
    too_long: int
    keeps_99: int  # the smallest sequence_len that keeps 99 % of rows
    kept: tuple[int, ...] = ()  # the lengths of the rows training keeps, in file order: what packing packs

    @property
    def share(self) -> float:
        return self.too_long / self.counted if self.counted else 0.0


@dataclass
class DatasetStats:
    """What a config's dataset looks like to training; `lengths` is None when not counted."""

    file: str
    rows: int = 0
    duplicates: int = 0
    lengths: Lengths | None = None
    length_check: str = ""
    problems: list[Problem] = field(default_factory=list)

    @property
    def too_long(self) -> int | None:
        return self.lengths.too_long if self.lengths else None


def read_rows(path: Path) -> tuple[list[tuple[int, dict[str, Any]]], list[tuple[int, str]]]:
    """JSONL rows with their 1-based line numbers, plus the lines that are not JSON objects."""
    rows, broken = [], []
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                broken.append((number, f"not UTF-8 text (byte 0x{raw[exc.start]:02x} at column {exc.start + 1}); "
                                       "save the file as UTF-8"))
                continue
            if not line.strip():
                continue
            try:
                row = json.loads(line.rstrip("\r\n"))
            except json.JSONDecodeError as exc:
                broken.append((number, f"not JSON ({exc.msg} at column {exc.colno})"))
                continue
            if isinstance(row, dict):
                rows.append((number, row))
            else:
                broken.append((number, f"expected a JSON object, got {type(row).__name__}"))
    return rows, broken


def read_csv_rows(path: Path) -> tuple[list[tuple[int, dict[str, Any]]], list[tuple[int, str]]]:
    """CSV rows (the header names the columns, as Axolotl's `ds_type: csv` reads them) with the line each starts on,
    plus the lines that cannot be rows: bad quoting, a field count other than the header's."""
    rows: list[tuple[int, dict[str, Any]]] = []
    broken: list[tuple[int, str]] = []
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        line = path.read_bytes()[: exc.start].count(b"\n") + 1
        return [], [(line, f"not UTF-8 text (byte at offset {exc.start}); save the file as UTF-8")]
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    header: list[str] | None = None
    start = 1
    while True:
        try:
            record = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            broken.append((reader.line_num, f"not CSV: {exc}"))
            break  # the reader cannot find the next row reliably after a quoting error
        line, start = start, reader.line_num + 1
        if not any(field.strip() for field in record):
            continue
        if header is None:
            header = record
            if len(set(header)) != len(header) or any(not name.strip() for name in header):
                broken.append((line, "the header needs a distinct, non-empty name for every column"))
            continue
        if len(record) != len(header):
            broken.append((line, f"{len(record)} fields where the header has {len(header)}"))
            continue
        rows.append((line, dict(zip(header, record, strict=True))))
    return rows, broken


def is_csv(path: Path, dataset_cfg: dict[str, Any]) -> bool:
    """Axolotl reads a local file as CSV when `ds_type: csv` says so, else by its `.csv` suffix."""
    return dataset_cfg.get("ds_type") == "csv" or (dataset_cfg.get("ds_type") is None and path.suffix == ".csv")


def row_problems(display: str, rows: list[tuple[int, dict[str, Any]]], broken: list[tuple[int, str]],
                 row_format: RowFormat, fields: Fields) -> tuple[list[Problem], int]:
    """Broken lines, rows the format refuses, and the number of duplicate rows."""
    found = [Problem(display, line, "row", message) for line, message in broken]
    for line, row in rows:
        found += row_format.check_row(display, line, row, fields)
    if not rows and not broken:
        found.append(Problem(display, None, "rows", "the dataset has no rows"))
    if len(found) > MAX_ROW_PROBLEMS:
        hidden = len(found) - MAX_ROW_PROBLEMS
        found = [*found[:MAX_ROW_PROBLEMS], Problem(display, None, "rows", f"... and {hidden} more row problems")]
    seen = Counter(json.dumps(row, sort_keys=True) for _, row in rows)
    duplicates = sum(count - 1 for count in seen.values())
    return found, duplicates


def _strategy(tokenizer: Any, type_cfg: Any, dataset_cfg: dict[str, Any], train_on_inputs: bool,
              sequence_len: int) -> Any:
    """Axolotl's prompt strategy for this dataset, built the way Axolotl's data loader builds it."""
    from axolotl.prompt_strategies import load
    from axolotl.utils.dict import DictDefault

    cfg = DictDefault({"train_on_inputs": train_on_inputs, "sequence_len": sequence_len})
    if isinstance(type_cfg, dict):
        return load("user_defined", tokenizer, cfg, dict(type_cfg))
    return load(str(type_cfg), tokenizer, cfg, DictDefault(dataset_cfg))


def length_summary(lengths: list[int], untruncated: list[int], sequence_len: int) -> Lengths:
    """Pure: how many rows exceed `sequence_len` as Axolotl tokenizes at that limit, and the length that 99 % of
    rows fit in, from their untruncated lengths (Axolotl truncates each segment at `sequence_len`)."""
    ordered = sorted(untruncated)
    keeps_99 = ordered[max(0, math.ceil(0.99 * len(ordered)) - 1)] if ordered else 0
    return Lengths(len(lengths), sum(length > sequence_len for length in lengths), keeps_99,
                   tuple(length for length in lengths if length <= sequence_len))


@cache
def count_too_long(path: Path, stamp: tuple[int, int], as_csv: bool, tokenizer: AxolotlTokenizer, dataset_json: str,
                   train_on_inputs: bool, sequence_len: int) -> tuple[Lengths | None, str]:
    """Rows Axolotl would drop for exceeding `sequence_len`, tokenized exactly as training does.

    Cached on everything the count depends on (the file's stamp included), so 1,000 configs sharing a
    dataset, tokenizer and sequence_len tokenize it once.
    """
    os.environ.setdefault("AXOLOTL_DO_NOT_TRACK", "1")
    dataset_cfg = json.loads(dataset_json)
    type_cfg = dataset_cfg.get("type")
    rows = [row for _, row in _read_cached(path, stamp, as_csv)[0]]
    logging.disable(logging.WARNING)
    try:
        strategy = _strategy(tokenizer.tokenizer, type_cfg, dataset_cfg, train_on_inputs, sequence_len)
        unbounded = _strategy(tokenizer.tokenizer, type_cfg, dataset_cfg, train_on_inputs, UNTRUNCATED)
        if strategy is None or unbounded is None:
            return None, f"length check skipped: Axolotl has no prompt strategy '{type_cfg}'"
        lengths = [len(strategy.tokenize_prompt(row)["input_ids"]) for row in rows]
        untruncated = [len(unbounded.tokenize_prompt(row)["input_ids"]) for row in rows]
    except Exception as exc:  # any strategy may raise anything on a row it cannot format
        return None, f"length check skipped: Axolotl could not tokenize the rows ({type(exc).__name__}: {exc})"
    finally:
        logging.disable(logging.NOTSET)
    return length_summary(lengths, untruncated, sequence_len), f"tokenized with {tokenizer.source}"


def effective_sequence_len(config: dict[str, Any]) -> int | None:
    """`sequence_len` as Axolotl will use it: its schema default when unset, None when not an integer."""
    value = config.get("sequence_len")
    if value is None:
        from pipeline.config.schema import axolotl_models

        return int(axolotl_models()[0].model_fields["sequence_len"].default)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _stamp(path: Path) -> tuple[int, int]:
    """What the caches key a file on: an edited file gets a new stamp and is read again."""
    stat = path.stat()
    return stat.st_mtime_ns, stat.st_size


@cache
def _read_cached(path: Path, stamp: tuple[int, int],
                 as_csv: bool = False) -> tuple[list[tuple[int, dict[str, Any]]], list[tuple[int, str]]]:
    return read_csv_rows(path) if as_csv else read_rows(path)


def row_count(path: Path) -> int:
    """Rows of a dataset file, from the cache validation filled (a file edited since is read again)."""
    return len(_read_cached(path, _stamp(path), path.suffix == ".csv")[0])


@cache
def _rows_checked(display: str, path: Path, stamp: tuple[int, int], as_csv: bool, format_name: str,
                  fields: Fields) -> tuple[tuple[Problem, ...], int]:
    rows, broken = _read_cached(path, stamp, as_csv)
    found, duplicates = row_problems(display, rows, broken, ROW_FORMATS[format_name], fields)
    return tuple(found), duplicates


def check_dataset(display: str, path: Path, config: dict[str, Any], dataset_cfg: dict[str, Any], row_format: RowFormat,
                  tokenizer: AxolotlTokenizer | None, no_tokenizer: str = "") -> DatasetStats:
    """One dataset as one config trains on it: its rows, duplicates and, with the tokenizer, rows too long.

    `tokenizer` None skips the length count; `no_tokenizer` is the note saying why (empty: not asked for).
    """
    stats = DatasetStats(file=display)
    if not path.is_file():
        stats.problems.append(Problem(display, None, "path", "dataset file does not exist"))
        return stats
    stamp = _stamp(path)
    as_csv = is_csv(path, dataset_cfg)
    found, stats.duplicates = _rows_checked(display, path, stamp, as_csv, row_format.name,
                                            row_format.fields(dataset_cfg))
    stats.rows = len(_read_cached(path, stamp, as_csv)[0])
    stats.problems = list(found)
    if stats.duplicates:
        stats.problems.append(Problem(display, None, "rows", f"{stats.duplicates} duplicate rows", "warning"))
    if errors(stats.problems):
        stats.length_check = "length check skipped: fix the rows first"
        return stats
    if tokenizer is None:
        stats.length_check = no_tokenizer
        return stats
    sequence_len = effective_sequence_len(config)
    if sequence_len is None:
        stats.length_check = "length check skipped: sequence_len is not an integer"
        return stats
    stats.lengths, stats.length_check = count_too_long(
        path, stamp, as_csv, tokenizer, json.dumps(dataset_cfg, sort_keys=True, default=str),
        bool(config.get("train_on_inputs")), sequence_len)
    return stats
