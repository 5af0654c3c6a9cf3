"""The per-config outcome table, report.json and the Actions job summary of `haha run`."""

from __future__ import annotations

import json
from pathlib import Path

from pipeline.core.runs import TrainRecord
from pipeline.orchestration.context import RunContext, make_context
from pipeline.orchestration.outcome import (
    EvalOutcome,
    Outcome,
    Sample,
    StageName,
    StageResult,
    StageStatus,
)
from pipeline.orchestration.report import RunReport, markdown_summary, outcome_table, write_report
from pipeline.orchestration.runner import Chosen, run_stages
from pipeline.orchestration.stages import ValidateStage
from pipeline.orchestration.state import ConfigState
from pipeline.train.axolotl import TrainingInterrupted, TrainResult


def outcomes() -> list[Outcome]:
    good = Outcome("haha-x-001")
    good.stages[StageName.VALIDATE] = StageStatus.OK
    good.record(StageName.TRAIN, StageResult(StageStatus.TRAINED, TrainResult(
        TrainRecord(config_sha256="a" * 64, finished="2026-11-22T10:00:00+00:00", seconds=12.5, steps=2,
                    losses=[6.65, 5.1], loss_steps=[1, 2]), False, ("micro_batch_size: 2 -> 8 (smoke)",),
        Path("scratch/runs/haha-x-001"))))
    good.stages[StageName.PUBLISH] = StageStatus.PUBLISHED
    good.record(StageName.EVALUATE, StageResult(StageStatus.EVALUATED, EvalOutcome(
        Path("scratch/results/haha-x-001.json"), None,
        (Sample("It was | hot.", 0.1, "So hot\nthe pun melted.", "It was hot."),))))
    bad = Outcome("haha-x-002", error="train/data/broken.jsonl:3: row: not JSON\nmore detail")
    bad.stages[StageName.VALIDATE] = StageStatus.FAILED
    return [good, bad]


def report_of(outcomes: list[Outcome], comparisons: dict | None = None) -> RunReport:
    chosen = Chosen(tuple(Path(f"train/config/{o.config}.yml") for o in outcomes), (), pending=False)
    return RunReport(tuple(outcomes), chosen, "2026-11-22T10:05:00Z", comparisons or {})


def test_the_table_has_a_row_per_config_with_every_stage() -> None:
    rows = outcome_table(outcomes())
    assert rows[0] == ["haha-x-001", "ok", "trained", "published", "evaluated", "6.650 → 5.100", "CPU", ""]
    assert rows[1] == ["haha-x-002", "failed", "-", "-", "-", "", "", "train/data/broken.jsonl:3: row: not JSON"]


def test_the_job_summary_shows_losses_samples_and_failures_as_valid_markdown() -> None:
    summary = markdown_summary(outcomes())
    assert "| haha-x-001 | ok | trained | published | evaluated | 6.650 → 5.100 | CPU |  |" in summary
    assert "| It was \\| hot. | 0.1 | It was hot. | So hot the pun melted. |" in summary
    assert "<details><summary>haha-x-002 failed</summary>" in summary
    assert "more detail" in summary


def test_report_json_carries_each_stage_result(tmp_path: Path) -> None:
    write_report(report_of(outcomes()), tmp_path / "report.json")
    written = json.loads((tmp_path / "report.json").read_text())
    assert written["finished"] == "2026-11-22T10:05:00Z" and written["judge"] is None
    good, bad = written["configs"]
    assert good["stages"] == {"validate": "ok", "train": "trained", "publish": "published", "evaluate": "evaluated"}
    assert good["train"]["losses"] == [6.65, 5.1] and good["train"]["overrides"] == ["micro_batch_size: 2 -> 8 (smoke)"]
    assert good["evaluate"]["samples"][0]["base"] == "It was hot."
    assert bad["train"] is None and bad["error"].startswith("train/data/broken.jsonl:3")


class StoppedTraining:
    """A train stage that is asked to stop, as a cancelled job's SIGTERM does."""

    name = StageName.TRAIN

    def run(self, ctx: RunContext, state: ConfigState) -> StageResult:
        raise TrainingInterrupted("training of jokes-001 stopped by SIGTERM")


def test_an_interrupted_config_keeps_the_stages_that_ran(haha_repo: Path) -> None:
    from pipeline.core.settings import load_settings

    ctx = make_context(load_settings(haha_repo), workspace=haha_repo / "ws")
    outcome = run_stages(ctx, haha_repo / "train" / "config" / "jokes-001.yml",
                         [ValidateStage(full=False), StoppedTraining()])
    assert outcome.interrupted
    assert outcome.stages == {"validate": "ok", "train": "interrupted", "publish": "-", "evaluate": "-"}


def test_a_new_config_is_shown_beside_the_previous_config_of_its_family(tmp_path: Path) -> None:
    from pipeline.formats.results import LossCurve, ResultsDoc
    from pipeline.orchestration.report import family_comparisons
    from tests.support.sample_results import results_doc, write_doc

    for name, loss, empty in (("haha-x-001", 3.5, False), ("haha-x-003", 3.1, True), ("other-001", 1.0, False)):
        doc = ResultsDoc.model_validate(results_doc(name))
        assert doc.meta is not None
        doc.meta.training_loss = LossCurve(steps=[1, 2], loss=[4.0, loss])
        if empty:
            doc.results[0].settingsResults[0].completions = ["", "", ""]
        write_doc(tmp_path, name, json.loads(doc.model_dump_json(exclude_unset=True)))
    new = Outcome("haha-x-003")
    new.record(StageName.EVALUATE, StageResult(StageStatus.EVALUATED, EvalOutcome(tmp_path / "haha-x-003.json", None)))
    first = Outcome("haha-x-001")
    first.record(StageName.EVALUATE, StageResult(StageStatus.SKIPPED, EvalOutcome(tmp_path / "haha-x-001.json", None)))
    comparisons = family_comparisons([new, first])
    assert list(comparisons) == ["haha-x-003"]  # 002 has no results: 001 is the previous; 001 has none before it
    rows = {row.label: row for row in comparisons["haha-x-003"].rows}
    assert (rows["final training loss"].previous, rows["final training loss"].current,
            rows["final training loss"].change) == ("3.500", "3.100", "-0.400")
    assert (rows["empty"].previous, rows["empty"].current, rows["empty"].change) == ("0%", "25%", "+25.0 points")
    summary = markdown_summary([new], comparisons)
    assert "**haha-x-003** beside **haha-x-001**, the previous config of its family" in summary
    assert "| final training loss | 3.500 | 3.100 | -0.400 |" in summary
    write_report(report_of([new], comparisons), tmp_path / "report.json")
    previous = json.loads((tmp_path / "report.json").read_text())["configs"][0]["previous"]
    assert previous["config"] == "haha-x-001" and previous["signals"][1]["current"] == "25%"


def test_a_warning_shows_in_the_table_the_job_summary_and_report_json(tmp_path: Path) -> None:
    warning = ("W&B was unreachable at start (no answer within 90 s: refused), so this run trained offline; "
               "upload it with: wandb sync /ws/runs/haha-x-003/wandb/offline-run-20261206_010203-abc")
    offline = Outcome("haha-x-003")
    offline.record(StageName.TRAIN, StageResult(StageStatus.TRAINED, TrainResult(
        TrainRecord(config_sha256="c" * 64, finished="2026-11-22T10:00:00+00:00", seconds=3.0, steps=2,
                    losses=[6.6, 5.0], loss_steps=[1, 2]), False, (), Path("ws/runs/haha-x-003"), (warning,))))
    assert outcome_table([offline])[0][-1] == f"warning: {warning}"
    assert f"**haha-x-003**: warnings\n\n- {warning}\n" in markdown_summary([offline])
    write_report(report_of([offline]), tmp_path / "report.json")
    assert json.loads((tmp_path / "report.json").read_text())["configs"][0]["train"]["warnings"] == [warning]
