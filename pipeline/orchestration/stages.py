"""The pipeline: validate -> train -> publish -> evaluate, one module per stage, each a `Stage` over one config.

A stage reads what earlier stages left on disk in the config's run folder (state.py), never from
memory, so each stage command (`haha train`, `haha publish`, `haha evaluate`) runs on its own and
gives what `haha run` gives.
"""

from __future__ import annotations

from pipeline.orchestration.evaluating import BaseReferenceStage, EvaluateStage
from pipeline.orchestration.publishing import PublishStage
from pipeline.orchestration.state import Stage
from pipeline.orchestration.training import TrainStage
from pipeline.orchestration.validating import ValidateStage

__all__ = ["PIPELINE", "BaseReferenceStage", "EvaluateStage", "PublishStage", "Stage", "TrainStage", "ValidateStage",
           "single"]

PIPELINE: tuple[Stage, ...] = (ValidateStage(), TrainStage(), PublishStage(), EvaluateStage())


def single(stage: Stage) -> tuple[Stage, ...]:
    """A stage command's stages: the light validation (with Axolotl's schema before training), then the stage."""
    return ValidateStage(full=False, schema=isinstance(stage, TrainStage)), stage
