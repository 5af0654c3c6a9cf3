"""CSV datasets (`ds_type: csv`): the header names the columns; bad quoting and ragged rows are named by line."""

from __future__ import annotations

from pathlib import Path

import yaml

from pipeline.core.settings import load_settings
from pipeline.data.rows import read_csv_rows
from pipeline.orchestration.validation import validate

QA_TYPE = {"field_instruction": "question", "field_output": "answer",
           "format": "<|im_start|>user\n{instruction}<|im_end|>\n<|im_start|>assistant\n",
           "no_input_format": "<|im_start|>user\n{instruction}<|im_end|>\n<|im_start|>assistant\n"}


def csv_config(repo: Path, text: str) -> Path:
    (repo / "train" / "data" / "qa.csv").write_text(text)
    path = repo / "train" / "config" / "jokes-001.yml"
    config = yaml.safe_load(path.read_text())
    config["datasets"] = [{"path": "/workspace/data/qa.csv", "ds_type": "csv", "type": QA_TYPE}]
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def problems(repo: Path, path: Path) -> list[tuple[str, int | None, str, str]]:
    report = validate([str(path)], load_settings(repo), check_eval_file=False, count_lengths=False)
    return [(p.file, p.line, p.key, p.message) for p in report.problems if p.severity == "error"]


def test_a_clean_csv_validates_and_counts_its_rows(haha_repo: Path) -> None:
    path = csv_config(haha_repo, 'question,answer\n"Why, the chicken?","To get, ""across"""\nWho?,Me\n')
    assert problems(haha_repo, path) == []
    rows, broken = read_csv_rows(haha_repo / "train" / "data" / "qa.csv")
    assert broken == [] and [line for line, _ in rows] == [2, 3]
    assert rows[0][1] == {"question": "Why, the chicken?", "answer": 'To get, "across"'}


def test_a_multiline_field_keeps_the_line_its_row_starts_on(haha_repo: Path) -> None:
    (haha_repo / "train" / "data" / "qa.csv").write_text('question,answer\n"two\nlines",a\nthree,b,extra\n')
    rows, broken = read_csv_rows(haha_repo / "train" / "data" / "qa.csv")
    assert [line for line, _ in rows] == [2]
    assert broken == [(4, "3 fields where the header has 2")]


def test_bad_quoting_and_missing_columns_are_named_by_line(haha_repo: Path) -> None:
    path = csv_config(haha_repo, 'question,answer\nok,fine\n"broken "quote",x\n')
    assert problems(haha_repo, path) == [
        ("train/data/qa.csv", 3, "row", "not CSV: ',' expected after '\"'")]
    path = csv_config(haha_repo, "prompt,answer\nWhy?,Because.\n")
    assert problems(haha_repo, path) == [("train/data/qa.csv", 2, "question",
                                                "missing field 'question': Axolotl's user_defined strategy reads it")]
    path = csv_config(haha_repo, "question,question\nWhy?,Because.\n")
    assert ("train/data/qa.csv", 1, "row", "the header needs a distinct, non-empty name for every column") in problems(
        haha_repo, path)
