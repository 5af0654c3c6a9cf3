"""Running stages over configs: which configs a run takes, and the loop over them under the workspace lock.

Every config ends with an `Outcome` saying what happened at each stage; one failing config never
stops the others. `haha run` runs the whole `PIPELINE`, each stage command its own stage after the
light validation. What happens as it goes reaches the caller through a `RunListener`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Protocol

from pipeline.core.errors import HahaError
from pipeline.core.lock import workspace_lock
from pipeline.core.naming import basename_of, discover
from pipeline.orchestration.context import RunContext
from pipeline.orchestration.needs import needs_of
from pipeline.orchestration.outcome import Outcome, StageStatus
from pipeline.orchestration.stages import PIPELINE
from pipeline.orchestration.state import ConfigState, Stage, Status, Step, ignore
from pipeline.results.pending import Pending, pending, with_pending_needs
from pipeline.train.axolotl import TrainingInterrupted


@dataclass(frozen=True)
class Chosen:
    """The configs a run takes, in the order they run, and why each one nobody named is among them."""

    paths: tuple[Path, ...]
    reasons: tuple[Pending, ...]  # every config when none was named (they are pending), else the needs added
    pending: bool  # no config was named: the run takes the pending ones


class RunListener(Protocol):
    """What a run tells its caller as it goes; the CLI draws it, a library caller may ignore it (`Silent`)."""

    def configs_chosen(self, chosen: Chosen) -> None: ...

    def config_started(self, path: Path, index: int, count: int) -> None: ...

    def step(self, config: str, step: Step) -> None: ...

    def config_finished(self, outcome: Outcome) -> None: ...


class Silent:
    """A `RunListener` that shows nothing."""

    def configs_chosen(self, chosen: Chosen) -> None:
        pass

    def config_started(self, path: Path, index: int, count: int) -> None:
        pass

    def step(self, config: str, step: Step) -> None:
        pass

    def config_finished(self, outcome: Outcome) -> None:
        pass


SILENT = Silent()


def choose_configs(ctx: RunContext, named: Sequence[Path], alone: bool = False) -> Chosen:
    """The configs named, after any pending config they need (a `haha_parent`, a reward model; none with
    `alone`); with none named, every pending config (against the run's results folder)."""
    needs = needs_of(ctx.settings.eval_dir)
    if not named:
        found = pending(discover(ctx.settings.config_dir), ctx.results_dir, needs)
        return Chosen(tuple(item.path for item in found), tuple(found), pending=True)
    if alone:
        return Chosen(tuple(named), (), pending=False)
    ordered, added = with_pending_needs(named, ctx.results_dir, needs)
    return Chosen(tuple(ordered), tuple(added), pending=False)


def run_stages(ctx: RunContext, path: Path, stages: Sequence[Stage] = PIPELINE, on_status: Status = ignore) -> Outcome:
    """The stages in order for one config; the first failure ends this config, never the run."""
    state = ConfigState(path, ctx.run_paths(basename_of(path)), on_status)
    outcome = Outcome(state.run.basename)
    for stage in stages:
        on_status(Step(str(stage.name)))
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


def run_configs(ctx: RunContext, paths: Sequence[Path], stages: Sequence[Stage] = PIPELINE,
                listener: RunListener = SILENT) -> list[Outcome]:
    """Each config through the stages under the workspace lock (a second run on the same workspace stops with the
    holder's name); stops early only when asked to (a signal), so there may be fewer outcomes than paths."""
    outcomes = []
    with workspace_lock(ctx.workspace):
        for index, path in enumerate(paths, start=1):
            listener.config_started(path, index, len(paths))
            outcome = run_stages(ctx, path, stages, partial(listener.step, basename_of(path)))
            outcomes.append(outcome)
            listener.config_finished(outcome)
            if outcome.interrupted:
                break
    return outcomes
