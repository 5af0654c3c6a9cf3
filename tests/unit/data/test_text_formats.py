"""Raw text (`type: completion`) and labelled segments (`type: input_output`): rows checked at their lines."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from pipeline.core.settings import load_settings
from pipeline.orchestration.validation import validate


def config_with(repo: Path, dataset: dict, rows: list[object]) -> Path:
    (repo / "train" / "data" / "text.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    path = repo / "train" / "config" / "jokes-001.yml"
    config = yaml.safe_load(path.read_text())
    config["datasets"] = [{"path": "/workspace/data/text.jsonl", **dataset}]
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def row_errors(repo: Path, path: Path) -> list[tuple[int | None, str, str]]:
    report = validate([str(path)], load_settings(repo), check_eval_file=False, count_lengths=False)
    return [(p.line, p.key, p.message) for p in report.problems if p.severity == "error"]


@pytest.mark.parametrize("field", [None, "pun"])
def test_completion_rows_need_their_text_field(haha_repo: Path, field: str | None) -> None:
    name = field or "text"
    dataset = {"type": "completion", **({"field": field} if field else {})}
    rows = [{name: "A pun walks into a bar."}, {"other": "x"}, {name: "  "}]
    assert row_errors(haha_repo, config_with(haha_repo, dataset, rows)) == [
        (2, name, f"missing field '{name}': Axolotl's completion strategy reads it")]


def test_input_output_rows_need_labelled_segments(haha_repo: Path) -> None:
    rows = [{"segments": [{"label": False, "text": "Q: why?\n"}, {"label": True, "text": "A: because."}]},
            {"segments": [{"label": False, "text": "context only"}]},
            {"segments": [{"label": "yes", "text": "x"}]},
            {"text": "no segments"}]
    path = config_with(haha_repo, {"type": "input_output"}, rows)
    # Axolotl trains a segment whose label is truthy ("yes" too); a row with nothing labelled trains nothing and is
    # dropped, which is a warning, not an error.
    assert row_errors(haha_repo, path) == [(4, "segments", "missing field 'segments': Axolotl's input_output strategy "
                                                           "reads it")]
    report = validate([str(path)], load_settings(haha_repo), check_eval_file=False, count_lengths=False)
    assert [(p.line, p.message) for p in report.problems if p.severity == "warning"] == [
        (2, "1 of 4 rows have no trainable token (the first is here); Axolotl drops them (check roles_to_train and "
            "the answers)")]

