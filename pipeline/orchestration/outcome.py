"""What happened to one config: a status per stage and each stage's typed result, for tables and report.json."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from pipeline.config.loading import LoadedConfig
from pipeline.evaluate.run import EvalReport
from pipeline.publish.hub import PublishResult
from pipeline.train.axolotl import TrainResult


class StageName(StrEnum):
    VALIDATE = "validate"
    TRAIN = "train"
    PUBLISH = "publish"
    EVALUATE = "evaluate"


class StageStatus(StrEnum):
    NOT_RUN = "-"
    OK = "ok"
    TRAINED = "trained"
    PUBLISHED = "published"
    EVALUATED = "evaluated"
    SKIPPED = "skipped"  # this config hash was already done
    FAILED = "failed"
    INTERRUPTED = "interrupted"


@dataclass(frozen=True)
class Sample:
    """One sample completion for the closing table; `base` is the base model's for the same cell."""

    prompt: str  # the prompt's label: its text, and its picture's path when it showed one
    temperature: float
    completion: str
    base: str | None = None


@dataclass(frozen=True)
class EvalOutcome:
    """The evaluate stage's result: the results file, the eval's figures (None when skipped) and samples."""

    results_path: Path
    report: EvalReport | None
    samples: tuple[Sample, ...] = ()
    before: str = "base model"  # what the samples' `base` column came from: a haha_parent config's parent


StagePayload = LoadedConfig | TrainResult | PublishResult | EvalOutcome


@dataclass(frozen=True)
class StageResult:
    status: StageStatus
    payload: StagePayload


@dataclass
class Outcome:
    config: str
    stages: dict[StageName, StageStatus] = field(default_factory=lambda: dict.fromkeys(StageName,
                                                                                      StageStatus.NOT_RUN))
    results: dict[StageName, StageResult] = field(default_factory=dict)
    error: str = ""
    interrupted: bool = False  # stopped by a signal: the run ends after this config

    @property
    def failed(self) -> bool:
        return bool(self.error)

    def record(self, name: StageName, result: StageResult) -> None:
        self.stages[name] = result.status
        self.results[name] = result

    def _payload(self, name: StageName, kind: type[Any]) -> Any:
        result = self.results.get(name)
        return result.payload if result is not None and isinstance(result.payload, kind) else None

    @property
    def train(self) -> TrainResult | None:
        return self._payload(StageName.TRAIN, TrainResult)

    @property
    def publish(self) -> PublishResult | None:
        return self._payload(StageName.PUBLISH, PublishResult)

    @property
    def evaluation(self) -> EvalOutcome | None:
        return self._payload(StageName.EVALUATE, EvalOutcome)

    def to_json(self) -> dict[str, Any]:
        """report.json's entry for this config."""
        train, publish, evaluation = self.train, self.publish, self.evaluation
        return {
            "config": self.config,
            "stages": {str(name): str(status) for name, status in self.stages.items()},
            "error": self.error,
            "interrupted": self.interrupted,
            "train": None if train is None else {
                "skipped": train.skipped, "run_dir": str(train.run_dir), "overrides": list(train.overrides),
                "warnings": list(train.warnings), **train.record.model_dump()},
            "publish": None if publish is None else publish.model_dump(),
            "evaluate": None if evaluation is None else {
                "results": str(evaluation.results_path),
                "report": None if evaluation.report is None else {
                    "units": evaluation.report.units, "computed": evaluation.report.computed,
                    "resumed": evaluation.report.resumed, "seconds": round(evaluation.report.seconds, 1)},
                "samples": [sample.__dict__ for sample in evaluation.samples]},
        }
