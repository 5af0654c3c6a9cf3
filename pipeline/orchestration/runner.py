"""Running stages over configs: one failing config never stops the others.

Every config ends with an `Outcome` saying what happened at each stage; `haha run` runs the
whole `PIPELINE`, each stage command its own stage after the light validation.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from pipeline.core.errors import HahaError
from pipeline.core.naming import basename_of
from pipeline.orchestration.context import RunContext
from pipeline.orchestration.outcome import ConfigState, Outcome, StageStatus, Status
from pipeline.orchestration.stages import PIPELINE, Stage
from pipeline.train.axolotl import TrainingInterrupted


def run_stages(ctx: RunContext, path: Path, stages: Sequence[Stage] = PIPELINE,
               on_status: Status = lambda _text: None) -> Outcome:
    """The stages in order for one config; the first failure ends this config, never the run."""
    state = ConfigState(path, ctx.run_paths(basename_of(path)), on_status)
    outcome = Outcome(state.run.basename)
    for stage in stages:
        on_status(str(stage.name))
        try:
            outcome.record(stage.name, stage.run(ctx, state))
        except HahaError as exc:
            outcome.stages[stage.name], outcome.error = StageStatus.FAILED, str(exc)
        except TrainingInterrupted as exc:
            # Asked to stop: the outcome keeps every stage that ran, and the caller stops the run.
            outcome.stages[stage.name], outcome.error = StageStatus.INTERRUPTED, str(exc)
            outcome.interrupted = True
        except Exception as exc:  # a bug or an outage in one config's run must not stop the others
            outcome.stages[stage.name], outcome.error = StageStatus.FAILED, f"{type(exc).__name__}: {exc}"
        if outcome.error:
            break
    return outcome
