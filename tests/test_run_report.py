"""The per-config outcome table and the Actions job summary of `haha run`."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.orchestration.runner import Outcome, markdown_summary, outcome_table


def outcomes() -> list[Outcome]:
    good = Outcome("haha-x-001", details={
        "loss_first": 6.65, "loss_last": 5.1,
        "samples": [{"prompt": "It was | hot.", "temperature": 0.1, "completion": "So hot\nthe pun melted."}],
    })
    good.stages.update(validate="ok", train="trained", publish="published", evaluate="evaluated")
    bad = Outcome("haha-x-002", error="train/data/broken.jsonl:3: row: not JSON\nmore detail")
    bad.stages.update(validate="failed")
    return [good, bad]


def test_the_table_has_a_row_per_config_with_every_stage() -> None:
    rows = outcome_table(outcomes())
    assert rows[0] == ["haha-x-001", "ok", "trained", "published", "evaluated", "6.650 -> 5.100", ""]
    assert rows[1] == ["haha-x-002", "failed", "-", "-", "-", "", "train/data/broken.jsonl:3: row: not JSON"]


def test_the_job_summary_shows_losses_samples_and_failures_as_valid_markdown() -> None:
    summary = markdown_summary(outcomes())
    assert "| haha-x-001 | ok | trained | published | evaluated | 6.650 -> 5.100 |  |" in summary
    assert "| It was \\| hot. | 0.1 | So hot the pun melted. |" in summary
    assert "<details><summary>haha-x-002 failed</summary>" in summary
    assert "more detail" in summary


def test_an_interrupted_config_keeps_the_stages_that_ran(haha_repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from pipeline.core.settings import load_settings
    from pipeline.orchestration import runner
    from pipeline.train.axolotl import TrainingInterrupted

    def stopped(*_args: object, **_kwargs: object) -> None:
        raise TrainingInterrupted("training of jokes-001 stopped by SIGTERM")

    monkeypatch.setattr(runner, "stage_train", stopped)
    ctx = runner.make_context(load_settings(haha_repo), None, None, "disabled", haha_repo / "ws")
    outcome = runner.run_one(ctx, haha_repo / "train" / "config" / "jokes-001.yml", [], lambda _text: None)
    assert outcome.interrupted
    assert outcome.stages == {"validate": "ok", "train": "interrupted", "publish": "-", "evaluate": "-"}
