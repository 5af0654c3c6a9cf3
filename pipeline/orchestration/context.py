"""What a run needs besides the config: settings, where runs and results go, the hub, W&B, smoke and eval options.

Built once by pipeline.api from a `RunOptions` (each option parsed into a typed value); every stage reads it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from pipeline.config.effective import SMOKE_STEPS
from pipeline.config.loading import LoadedConfig
from pipeline.core.runs import RunPaths
from pipeline.core.settings import Settings, results_path
from pipeline.evaluate.tasks import DEFAULT_BATCH_SIZE
from pipeline.formats.tracking import WandbMode
from pipeline.models.smoke import SmokeModel, SmokeModelChoice, choose_smoke_model
from pipeline.publish.hub import Hub
from pipeline.publish.local import LocalHub


@dataclass(frozen=True)
class EvalOptions:
    """`haha evaluate`'s own knobs; the defaults are what `haha run` does."""

    batch_size: int = DEFAULT_BATCH_SIZE
    max_new_tokens: int | None = None  # caps every setting
    adapter_dir: Path | None = None  # evaluate this adapter folder instead of the config's run
    base_model: str | None = None  # instead of the run's (or the config's) base_model
    out_path: Path | None = None  # instead of <results_dir>/<basename>.json
    eval_file: Path | None = None  # one sweep spec instead of every task in train/eval


@dataclass(frozen=True)
class RunContext:
    """`smoke` runs live entirely under `scratch/` (or `--workspace`)."""

    settings: Settings
    workspace: Path  # runs: <workspace>/<basename>/
    results_dir: Path
    hub: Hub
    wandb_mode: WandbMode
    smoke_model: SmokeModelChoice | None = None  # set for smoke runs: which model stands in for the real one
    smoke_steps: int = SMOKE_STEPS
    force: bool = False  # redo every stage even when this config hash is already done
    eval: EvalOptions = field(default_factory=EvalOptions)
    source_repo_url: str = ""  # the repo the configs come from (GitHub's server and repository), for model cards

    @property
    def smoke(self) -> bool:
        return self.smoke_model is not None

    @property
    def tiny_model_dir(self) -> Path:
        """Where `--smoke-model tiny` builds the random tiny Llama: beside the runs, under scratch/."""
        return self.workspace.parent / "tiny-model"

    @property
    def flags(self) -> str:
        """` --smoke --workspace DIR`: what a command suggested in a message needs to act on this run's files."""
        given = self.workspace.parent != default_workspace(self.settings, self.smoke)
        return (" --smoke" if self.smoke else "") + (f" --workspace {self.workspace.parent}" if given else "")

    def smoke_model_for(self, config: LoadedConfig) -> SmokeModel | None:
        """The model this config's smoke run trains (None for a real run); a twin is built on first use."""
        if self.smoke_model is None:
            return None
        return choose_smoke_model(config.data, self.smoke_model, self.tiny_model_dir, self.settings.data_dir)

    def training_base(self, config: LoadedConfig) -> str:
        """The base model this config's run trains on: its smoke stand-in in smoke runs, else its `base_model`."""
        smoke = self.smoke_model_for(config)
        return str(smoke.path) if smoke is not None else str(config.data["base_model"])

    def run_paths(self, basename: str) -> RunPaths:
        return RunPaths(self.workspace, basename)

    def results_path(self, basename: str) -> Path:
        return self.eval.out_path or results_path(self.results_dir, basename)


def default_workspace(settings: Settings, smoke: bool) -> Path:
    """Where runs go without --workspace: scratch/ for smoke runs, else $HAHA_WORKSPACE or workspace/."""
    if smoke:
        return settings.root / "scratch"
    return Path(os.environ.get("HAHA_WORKSPACE", settings.root / "workspace"))


def make_context(settings: Settings, *, smoke: SmokeModelChoice | None = None, hub: Hub | None = None,
                 wandb_mode: WandbMode = WandbMode.DISABLED, workspace: Path | None = None, force: bool = False,
                 smoke_steps: int = SMOKE_STEPS, eval_options: EvalOptions | None = None,
                 source_repo_url: str = "") -> RunContext:
    """`smoke` None is a real run into workspace/ and train/results; a choice is a smoke run under scratch/."""
    base = workspace or default_workspace(settings, smoke is not None)
    results_dir = base / "results" if smoke is not None else settings.results_dir
    return RunContext(settings, base / "runs", results_dir, hub or LocalHub(base / "hub"), wandb_mode, smoke,
                      smoke_steps if smoke is not None else SMOKE_STEPS, force, eval_options or EvalOptions(),
                      source_repo_url)
