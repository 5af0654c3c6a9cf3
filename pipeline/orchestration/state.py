"""One config on its way through the stages (`ConfigState`), the `Stage` protocol every stage module implements,
and the `Step` a long stage reports as it goes.

A stage reads what earlier stages left in the config's run folder (the adapter and complete.json from
train, published.json from publish), never from memory: the helpers that read the run folder are
`ConfigState`'s methods, so the stage modules (validating, training, publishing, evaluating) share them
without importing each other.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import yaml

from pipeline.config.loading import LoadedConfig
from pipeline.core.errors import StageError
from pipeline.core.runs import RunPaths
from pipeline.formats.tracking import WandbRef
from pipeline.orchestration.context import RunContext
from pipeline.orchestration.outcome import StageName, StageResult
from pipeline.publish.hub import PublishResult
from pipeline.train.tracking import run_reference


@dataclass(frozen=True)
class Step:
    """What a stage is doing now: `what` ("training", "eval sweep"), and for counted work `done` of `total` units
    (training steps, eval cells); `total` 0 is work with no count (loading a model, pushing)."""

    what: str
    done: int = 0
    total: int = 0
    detail: str = ""  # the latest figure worth a glance: "loss 3.104"


Status = Callable[[Step], None]


def ignore(_step: Step) -> None:
    """A `Status` for callers that show no progress."""


@dataclass
class ConfigState:
    """One config on its way through the stages: its file, its run folder, and (once validated) its contents."""

    path: Path
    run: RunPaths
    on_status: Status = ignore
    config: LoadedConfig | None = None

    @property
    def loaded(self) -> LoadedConfig:
        assert self.config is not None, "the validate stage runs first"
        return self.config

    def require_trained(self, ctx: RunContext) -> None:
        """The run folder holds this config's adapter, trained the way this command runs (smoke or real)."""
        if self.run.trained(self.loaded.sha256, ctx.smoke) is not None:
            return
        command = f"haha train {self.path}{ctx.flags}"
        other = self.run.trained(self.loaded.sha256, not ctx.smoke)
        if other is not None:
            kind, wanted = ("a smoke run", "a real one") if other.smoke else ("a real run", "a smoke one")
            raise StageError(f"{self.run.basename} in {ctx.workspace} was trained by {kind}, and this is {wanted}: "
                             f"run {command} first, or use another --workspace")
        raise StageError(f"{self.run.basename} is not trained for this config yet (looked in {ctx.workspace}): run "
                         f"{command} first")

    def trained_config(self) -> dict[str, Any] | None:
        """The effective config the run trained (the run folder's config.yml), or None before training."""
        if not self.run.config.is_file():
            return None
        return yaml.safe_load(self.run.config.read_text())

    def wandb_reference(self, ctx: RunContext) -> WandbRef | None:
        return run_reference(self.run.run_dir, ctx.wandb_mode, ctx.settings.wandb_project, self.run.basename,
                             ctx.settings.wandb_entity)

    def published_for(self, adapter_sha256: str) -> PublishResult | None:
        """What the publish stage recorded, when it pushed these exact adapter bytes."""
        try:
            published = PublishResult.model_validate_json(self.run.published.read_bytes())
        except (OSError, ValueError):
            return None
        return published if published.adapter_sha256 == adapter_sha256 else None

    def eval_base_model(self, ctx: RunContext) -> str:
        """The model the eval puts the adapter on: `--base-model`, else the base model the run trained (a smoke
        run's stand-in), else the config's."""
        if ctx.eval.base_model:
            return ctx.eval.base_model
        if (trained := self.trained_config()) is not None:
            return str(trained["base_model"])
        if base := self.loaded.data.get("base_model"):
            return str(base)
        raise StageError(f"{self.path}: no base_model in the config and none given")


class Stage(Protocol):
    name: StageName

    def run(self, ctx: RunContext, state: ConfigState) -> StageResult: ...
