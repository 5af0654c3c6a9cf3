"""The PR job summary built from `haha validate --json`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipeline.config.summary import main, validation_markdown

REPORT = {
    "problems": [
        {"file": "train/config/a-001.yml", "line": 3, "key": "learning_rate", "message": "must be > 0 | got -1",
         "severity": "error"},
        {"file": "train/config", "line": None, "key": "filename", "message": "family 'a' skips a-002",
         "severity": "warning"},
    ],
    "datasets": [
        {"config": "a-001.yml", "file": "train/data/d.jsonl", "rows": 64, "duplicates": 1, "too_long": 5,
         "length_check": "tiny"},
        {"config": "a-003.yml", "file": "train/data/d.jsonl", "rows": 64, "duplicates": 1, "too_long": None,
         "length_check": ""},
    ],
    "summary": {"configs": 2, "errors": 1, "warnings": 1},
}


def test_validation_markdown_has_verdict_problems_and_dataset_rows() -> None:
    text = validation_markdown(REPORT)
    assert "❌ 2 configs, 1 errors, 1 warnings" in text
    assert "| train/config/a-001.yml:3 | learning_rate | error | must be > 0 \\| got -1 |" in text
    assert "| train/config | filename | warning |" in text
    assert "| a-001.yml | train/data/d.jsonl | 64 | 1 | 5 |" in text
    assert "| a-003.yml | train/data/d.jsonl | 64 | 1 | not counted |" in text


def test_clean_report_has_no_problem_table() -> None:
    text = validation_markdown({"problems": [], "datasets": [], "summary": {"configs": 1, "errors": 0,
                                                                             "warnings": 0}})
    assert text.startswith("## Validation\n\n✅ 1 configs")
    assert "| where |" not in text


def test_main_prints_the_markdown(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "validate.json"
    path.write_text(json.dumps(REPORT))
    assert main([str(path)]) == 0
    assert capsys.readouterr().out == validation_markdown(REPORT)
    assert main([]) == 2
