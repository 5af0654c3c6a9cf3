"""Dataset checks: the JSONL or CSV a config trains on, read once per file however many configs share it.

Every row goes through Axolotl's own strategy for its dataset entry (data/strategies.py), so a row is refused
for the reason training would fail on it. Axolotl also drops rows longer than `sequence_len` without a word (and
dies with `num_samples=0` when it drops them all), so when the base model's tokenizer is on disk the rows are
counted with it.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections import Counter
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from pipeline.config.load_checks import AxolotlTokenizer
from pipeline.config.rules import dataset_file
from pipeline.core.problems import Problem, errors
from pipeline.core.settings import Settings
from pipeline.data.images import count_problem, row_images
from pipeline.data.strategies import STRATEGY_KEYS, DataPath, RowStrategy, StrategyError, quiet_axolotl, row_error

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
    entry_problem: str = ""  # Axolotl has no strategy for the entry's `type`: the config's problem, at that key
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


def read_other_rows(path: Path) -> tuple[list[tuple[int, dict[str, Any]]], list[tuple[int, str]]]:
    """Rows of the other files a Hub dataset holds: Parquet (numbered by row) and a JSON array (by element)."""
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        try:
            table = pq.read_table(path)
        except Exception as exc:  # pyarrow raises its own kinds for a file that is not Parquet
            return [], [(1, f"not Parquet ({exc})")]
        return [(number, row) for number, row in enumerate(table.to_pylist(), start=1)], []
    try:
        items = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError):
        return read_rows(path)  # JSON lines after all: read_rows reports each bad line
    if not isinstance(items, list):
        return read_rows(path)  # one JSON object is one JSON line
    rows = [(number, item) for number, item in enumerate(items, start=1) if isinstance(item, dict)]
    broken = [(number, f"element {number} is not an object") for number, item in enumerate(items, start=1)
              if not isinstance(item, dict)]
    return rows, broken


def is_csv(path: Path, dataset_cfg: dict[str, Any]) -> bool:
    """Axolotl reads a local file as CSV when `ds_type: csv` says so, else by its `.csv` suffix."""
    return dataset_cfg.get("ds_type") == "csv" or (dataset_cfg.get("ds_type") is None and path.suffix == ".csv")


def file_problems(display: str, rows: list[tuple[int, dict[str, Any]]],
                  broken: list[tuple[int, str]]) -> tuple[list[Problem], int]:
    """Lines that are not rows, an empty file, and the number of duplicate rows: what no strategy sees."""
    found = [Problem(display, line, "row", message) for line, message in broken]
    if not rows and not broken:
        found.append(Problem(display, None, "rows", "the dataset has no rows"))
    seen = Counter(json.dumps(row, sort_keys=True) for _, row in rows)
    return found, sum(count - 1 for count in seen.values())


def length_summary(lengths: list[int], untruncated: list[int], sequence_len: int) -> Lengths:
    """Pure: how many rows exceed `sequence_len` as Axolotl tokenizes at that limit, and the length that 99 % of
    rows fit in, from their untruncated lengths (Axolotl truncates each segment at `sequence_len`)."""
    ordered = sorted(untruncated)
    keeps_99 = ordered[max(0, math.ceil(0.99 * len(ordered)) - 1)] if ordered else 0
    return Lengths(len(lengths), sum(length > sequence_len for length in lengths), keeps_99,
                   tuple(length for length in lengths if length <= sequence_len))


@cache
def _file_checked(display: str, path: Path, stamp: tuple[int, int], as_csv: bool) -> tuple[list[Problem], int]:
    """file_problems once per file version, however many configs share it."""
    return file_problems(display, *_read_cached(path, stamp, as_csv))


@dataclass(frozen=True)
class StrategyRun:
    """Every row of one dataset entry through Axolotl's strategy: the rows it fails on, the rows it would drop
    for having nothing to train, and (with the config's own tokenizer) the lengths."""

    problems: tuple[Problem, ...] = ()
    lengths: Lengths | None = None
    entry_problem: str = ""  # Axolotl cannot build a strategy for the entry: reported at the entry's `type`


def _cap(found: list[Problem], display: str) -> list[Problem]:
    if len(found) <= MAX_ROW_PROBLEMS:
        return found
    hidden = len(found) - MAX_ROW_PROBLEMS
    return [*found[:MAX_ROW_PROBLEMS], Problem(display, None, "rows", f"... and {hidden} more row problems")]


def _empty_answer_problem(display: str, lines: list[int], rows: int) -> Problem | None:
    if not lines:
        return None
    return Problem(display, lines[0], "rows", f"{len(lines)} of {rows} rows have an empty answer (the first is here): "
                                              "Axolotl trains only the end-of-text token on them", "warning")


def _untrained_problem(display: str, lines: list[int], rows: int) -> Problem | None:
    if not lines:
        return None
    if len(lines) == rows:  # Axolotl's own words when it stops (utils/trainer.py)
        return Problem(display, lines[0], "rows", "no row has a trainable token, so Axolotl stops: \"The dataset has "
                                                  "no samples left after dropping samples with no trainable tokens\" "
                                                  "(check train_on_inputs, roles_to_train and the answers)")
    return Problem(display, lines[0], "rows", f"{len(lines)} of {rows} rows have no trainable token (the first is "
                                              "here); Axolotl drops them (check roles_to_train and the answers)",
                   "warning")


@cache
def run_strategy(display: str, path: Path, stamp: tuple[int, int], as_csv: bool, tokenizer: AxolotlTokenizer,
                 config_json: str, list_key: str, index: int, count: bool, sequence_len: int) -> StrategyRun:
    """Each row of the file through Axolotl's strategy for the entry, as training will run it.

    Cached on everything the verdict depends on (the file's stamp included), so 1,000 configs sharing a dataset,
    tokenizer and the strategy's keys run it once. `count` asks for lengths: only with the config's own tokenizer.
    """
    config = json.loads(config_json)
    rows = _read_cached(path, stamp, as_csv)[0]
    try:
        strategy = RowStrategy(config, list_key, index, tokenizer.tokenizer, sequence_len)
        unbounded = (RowStrategy(config, list_key, index, tokenizer.tokenizer, UNTRUNCATED)
                     if count and strategy.path is DataPath.TOKENIZED else None)
    except StrategyError as exc:
        return StrategyRun(entry_problem=str(exc))
    found: list[Problem] = []
    lengths: list[int] = []
    untruncated: list[int] = []
    untrained: list[int] = []
    empty: list[int] = []
    eos = getattr(tokenizer.tokenizer, "eos_token_id", None)
    with quiet_axolotl():
        for line, row in rows:
            verdict = _run_row(strategy, unbounded, row, count)
            if isinstance(verdict, Exception):
                found.append(Problem(display, line, *row_error(verdict, strategy)))
            elif verdict.untrained:
                untrained.append(line)
            else:
                if verdict.same_answers:
                    found.append(Problem(display, line, "chosen", "chosen and rejected are the same text once "
                                                                  "formatted: the pair teaches nothing", "warning"))
                if verdict.trained == [eos]:
                    empty.append(line)
                if verdict.length is not None:
                    lengths.append(verdict.length)
                    untruncated.append(verdict.untruncated or verdict.length)
    found += [problem for problem in (_untrained_problem(display, untrained, len(rows)),
                                      _empty_answer_problem(display, empty, len(rows))) if problem is not None]
    summary = length_summary(lengths, untruncated, sequence_len) if count and not found else None
    return StrategyRun(tuple(_cap(found, display)), summary)


@dataclass(frozen=True)
class RowVerdict:
    """One row through the strategy: what training does with it."""

    untrained: bool = False  # dropped: nothing in it is trained (or the strategy's own filter dropped it)
    same_answers: bool = False  # a preference pair whose answers are the same text once formatted
    trained: list[int] | None = None  # the tokens trained on (tokenized path)
    length: int | None = None  # tokens as Axolotl's length filter counts them, when counting
    untruncated: int | None = None


def _run_row(strategy: RowStrategy, unbounded: RowStrategy | None, row: dict[str, Any],
             count: bool) -> RowVerdict | Exception:
    try:
        if strategy.path is DataPath.PROMPTS:
            strategy.prompt(row)  # TRL never drops a prompt for its length: nothing to count
            return RowVerdict()
        if strategy.path is DataPath.TRANSFORMED:
            sample = strategy.transform(row)
            return RowVerdict(same_answers=len(set(sample.answers)) < len(sample.answers),
                              length=strategy.length(sample) if count else None)
        tokenized = strategy.tokenize(row)
        if tokenized is None or not tokenized.trainable:
            return RowVerdict(untrained=True)
        whole = unbounded.tokenize(row) if count and unbounded is not None else None
        return RowVerdict(trained=tokenized.trained_ids(),
                          length=len(tokenized.input_ids) if unbounded is not None else None,
                          untruncated=len(whole.input_ids) if whole else None)
    except Exception as exc:  # a strategy raises anything on a row it cannot format: that is the verdict
        return exc


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
    if as_csv:
        return read_csv_rows(path)
    return read_other_rows(path) if path.suffix in (".parquet", ".json") else read_rows(path)


def first_row(config: dict[str, Any], settings: Settings) -> dict[str, Any] | None:
    """The first row of the config's first dataset, when it is a readable file in train/data: eval prompts are made
    in its shape (evaluate/prompting.py)."""
    entries = [entry for entry in config.get("datasets") or [] if isinstance(entry, dict)]
    path_value = entries[0].get("path") if entries else None
    path = dataset_file(path_value, settings) if isinstance(path_value, str) else None
    if path is None or not path.is_file():
        return None
    rows = _read_cached(path, _stamp(path), is_csv(path, entries[0]))[0]
    return rows[0][1] if rows else None


def row_count(path: Path) -> int:
    """Rows of a dataset file, from the cache validation filled (a file edited since is read again)."""
    return len(_read_cached(path, _stamp(path), path.suffix == ".csv")[0])


def check_dataset(display: str, path: Path, config: dict[str, Any], list_key: str, index: int,
                  tokenizer: AxolotlTokenizer | None, count_lengths: bool, no_tokenizer: str = "") -> DatasetStats:
    """One dataset entry as one config trains on it: its rows through Axolotl's strategy, duplicates, and (with the
    config's own tokenizer and `count_lengths`) the rows too long.

    `tokenizer` None skips the rows' checks; `no_tokenizer` is the note saying why. A stand-in tokenizer (the
    config's own unreachable) checks rows but not lengths: `count_lengths` False.
    """
    stats = DatasetStats(file=display)
    if not path.is_file():
        stats.problems.append(Problem(display, None, "path", "dataset file does not exist"))
        return stats
    stamp = _stamp(path)
    entry = (config.get(list_key) or [])[index]
    as_csv = is_csv(path, entry)
    rows, _ = _read_cached(path, stamp, as_csv)
    found, stats.duplicates = _file_checked(display, path, stamp, as_csv)
    stats.rows = len(rows)
    stats.problems = list(found)  # the cached list stays as the file left it
    if stats.duplicates:
        stats.problems.append(Problem(display, None, "rows", f"{stats.duplicates} duplicate rows", "warning"))
    if not rows:
        stats.length_check = "rows not run through Axolotl's strategy: fix the file first"
        return stats
    sequence_len = effective_sequence_len(config)
    if tokenizer is None or sequence_len is None:
        stats.length_check = no_tokenizer if tokenizer is None else "rows not checked: sequence_len is not an integer"
        return stats
    picked = {key: config[key] for key in STRATEGY_KEYS if key in config} | {list_key: config.get(list_key)}
    run = run_strategy(display, path, stamp, as_csv, tokenizer, json.dumps(picked, sort_keys=True, default=str),
                       list_key, index, count_lengths, sequence_len)
    stats.entry_problem = run.entry_problem
    broken = bool(errors(stats.problems))  # lines that are not rows: lengths of the rest would mislead
    stats.problems += run.problems
    stats.lengths = None if broken else run.lengths
    if run.entry_problem:
        stats.length_check = "rows not checked: Axolotl has no strategy for this entry"
    elif not count_lengths:
        stats.length_check = no_tokenizer
    elif broken:
        stats.length_check = "length check skipped: fix the rows first"
    elif run.lengths is not None:
        stats.length_check = f"tokenized with {tokenizer.source}"
    else:
        stats.length_check = "length check skipped: fix the rows first"
    return stats


def image_problems(display: str, path: Path, entry: dict[str, Any], data_dir: Path) -> list[Problem]:
    """A vision dataset's pictures (data/images.py) at each row's line: every file opened and checked, and as many
    pictures handed to the processor as the template renders image tokens."""
    messages_key = entry.get("field_messages") or "messages"
    found: list[Problem] = []
    for line, row in _read_cached(path, _stamp(path), is_csv(path, entry))[0]:
        key = messages_key if messages_key in row or "conversations" not in row else "conversations"
        images, broken = row_images(row, key, data_dir)
        found += [Problem(display, line, where, message) for where, message in broken]
        if (mismatch := count_problem(images)) is not None:
            found.append(Problem(display, line, key, mismatch))
    return _cap(found, display)
