"""pipeline.api drives a whole smoke run from Python, without the CLI: the report it returns, the files it writes,
and what it tells its listener as it goes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipeline import api
from pipeline.core.errors import UsageError
from pipeline.models.smoke import SmokeModelChoice
from pipeline.orchestration.outcome import StageName, StageStatus
from pipeline.publish.local import LocalHub


class Recorder:
    """A listener that keeps what it was told."""

    def __init__(self) -> None:
        self.chosen: list[api.Chosen] = []
        self.started: list[str] = []
        self.steps: list[tuple[str, api.Step]] = []
        self.finished: list[api.Outcome] = []

    def configs_chosen(self, chosen: api.Chosen) -> None:
        self.chosen.append(chosen)

    def config_started(self, path: Path, index: int, count: int) -> None:
        self.started.append(f"{index}/{count} {path.name}")

    def step(self, config: str, step: api.Step) -> None:
        self.steps.append((config, step))

    def config_finished(self, outcome: api.Outcome) -> None:
        self.finished.append(outcome)


@pytest.mark.slow
def test_a_smoke_run_through_the_api_reports_and_writes_what_the_cli_shows(haha_repo: Path, tmp_path: Path) -> None:
    workspace = tmp_path / "ws"
    options = api.RunOptions(smoke=True, smoke_model=SmokeModelChoice.TINY, smoke_steps=4, wandb="disabled",
                             workspace=workspace, root=haha_repo,
                             github=api.GitHub(step_summary=tmp_path / "summary.md"))
    listener = Recorder()
    config = haha_repo / "train" / "config" / "jokes-001.yml"

    report = api.run([config], options, listener)

    (outcome,) = report.outcomes
    assert outcome.stages == {StageName.VALIDATE: StageStatus.OK, StageName.TRAIN: StageStatus.TRAINED,
                              StageName.PUBLISH: StageStatus.PUBLISHED, StageName.EVALUATE: StageStatus.EVALUATED}
    assert not report.failed and report.judge is None and report.judge_skipped == ""  # this repo sets no judge
    assert report.chosen.paths == (config,)
    assert outcome.train is not None and outcome.train.record.steps == 4 and len(outcome.train.record.losses) == 4
    # report.json is the report, as written
    assert report.path == workspace / "report.json"
    written = json.loads(report.path.read_text())
    assert written == json.loads(json.dumps(report.to_json()))
    assert written["configs"][0]["stages"] == {"validate": "ok", "train": "trained", "publish": "published",
                                               "evaluate": "evaluated"}
    # the results file names the hub revision the local hub holds
    assert outcome.publish is not None and outcome.evaluation is not None
    results = json.loads((workspace / "results" / "jokes-001.json").read_text())
    assert outcome.evaluation.results_path == workspace / "results" / "jokes-001.json"
    assert results["meta"]["hub_revision"] == outcome.publish.revision
    assert LocalHub(workspace / "hub").latest_revision(outcome.publish.repo_id) == outcome.publish.revision
    assert [len(r["settingsResults"][0]["completions"]) for r in results["results"]] == [2]
    # every setting the run changed, in the run folder, one per line
    overrides = (workspace / "runs" / "jokes-001" / "overrides.txt").read_text().splitlines()
    assert overrides == list(outcome.train.overrides) and any(line.startswith("max_steps: ") for line in overrides)
    # the job summary it was handed, and the listener's view of the run
    assert "| jokes-001 | ok | trained | published | evaluated |" in (tmp_path / "summary.md").read_text()
    assert listener.started == ["1/1 jokes-001.yml"] and listener.finished == [outcome]
    training = [step for config_name, step in listener.steps if config_name == "jokes-001" and step.what == "training"]
    assert training[-1].done == training[-1].total == 4 and training[-1].detail.startswith("loss ")
    assert any(step.what == "eval sweep" and step.done == step.total == 2 for _, step in listener.steps)


def test_options_a_run_cannot_take_are_usage_errors(haha_repo: Path) -> None:
    with pytest.raises(UsageError, match="--alone runs the CONFIGS named"):
        api.run([], api.RunOptions(alone=True, root=haha_repo))
    with pytest.raises(UsageError, match="take effect only with --smoke"):
        api.run([haha_repo / "train" / "config" / "jokes-001.yml"], api.RunOptions(smoke_steps=3, root=haha_repo))
    with pytest.raises(UsageError, match="no such config file"):
        api.train(haha_repo / "train" / "config" / "jokes-009.yml", api.RunOptions(smoke=True, root=haha_repo))
    with pytest.raises(UsageError, match="--hub must be"):
        api.publish(haha_repo / "train" / "config" / "jokes-001.yml", api.RunOptions(hub="ftp://x", root=haha_repo))
