"""The PR job summary built from `haha validate --json`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipeline.config.summary import main, validation_markdown
from pipeline.core.problems import Problem
from pipeline.data.rows import DatasetStats, Lengths
from pipeline.orchestration.validation import ConfigReport, Report


def report() -> dict[str, object]:
    """What `haha validate --json` prints, made by its own writer: two configs, one error, one warning."""
    first = ConfigReport(Path("train/config/a-001.yml"), None,
                         [Problem("train/config/a-001.yml", 3, "learning_rate", "must be > 0 | got -1")],
                         [DatasetStats("train/data/d.jsonl", 64, 1, Lengths(64, 5, 80), "tiny")])
    third = ConfigReport(Path("train/config/a-003.yml"), None, [],
                         [DatasetStats("train/data/d.jsonl", 64, 1, None, "")])
    warning = Problem("train/config", None, "filename", "family 'a' skips a-002", "warning")
    return Report([first, third], [warning]).to_json()


REPORT = report()


def test_validation_markdown_has_verdict_problems_and_dataset_rows() -> None:
    text = validation_markdown(REPORT)
    assert "❌ 2 configs, 1 error, 1 warning" in text
    assert "| train/config/a-001.yml:3 | learning_rate | error | must be > 0 \\| got -1 |" in text
    assert "| train/config | filename | warning |" in text
    assert "| a-001.yml | train/data/d.jsonl | 64 | 1 | 5 |" in text
    assert "| a-003.yml | train/data/d.jsonl | 64 | 1 | not counted |" in text


def test_clean_report_has_no_problem_table() -> None:
    text = validation_markdown(Report([ConfigReport(Path("train/config/a-001.yml"), None)]).to_json())
    assert text.startswith("## Validation\n\n✅ 1 config, 0 errors, 0 warnings")
    assert "| where |" not in text


def test_main_prints_the_markdown(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "validate.json"
    path.write_text(json.dumps(REPORT))
    assert main([str(path)]) == 0
    assert capsys.readouterr().out == validation_markdown(REPORT)
    assert main([]) == 2
