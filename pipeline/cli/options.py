"""The options the stage commands share, and the `RunContext` they build, parsed once here at the edge."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer

from pipeline.config.effective import SMOKE_STEPS
from pipeline.core.errors import UsageError
from pipeline.core.settings import load_settings
from pipeline.models.smoke import SmokeModelChoice
from pipeline.orchestration.context import EvalOptions, RunContext, make_context

SmokeOption = Annotated[bool, typer.Option("--smoke", help="A small stand-in base model (see --smoke-model), CPU-safe "
                                                            "settings, all output under scratch/: checks a config "
                                                            "without a GPU.")]
SmokeModelOption = Annotated[SmokeModelChoice, typer.Option(
    "--smoke-model", help="With --smoke: 'auto' trains a shrunken random twin of the config's own architecture with "
                          "its real tokenizer when the base model's config and tokenizer are reachable (local folder, "
                          "HF cache, or the Hub when online), else the embedded SmolLM2-135M-Instruct; 'twin' and "
                          "'embedded' force one; 'tiny' is the random tiny Llama for fast tests.")]
SmokeStepsOption = Annotated[int, typer.Option("--smoke-steps", min=1, help="With --smoke: optimizer steps to train "
                                                                            "(about 3 s each on the embedded model "
                                                                            "on 2 CPU cores).")]
WandbOption = Annotated[str | None, typer.Option("--wandb", help="online | offline | disabled (default: online "
                                                                  "when WANDB_API_KEY is set, else offline; smoke "
                                                                  "runs never go online). An online run whose W&B "
                                                                  "does not answer within W&B's init timeout trains "
                                                                  "offline and prints the `wandb sync` command.")]
HubOption = Annotated[str | None, typer.Option("--hub", help="local:DIR (default: a folder in the workspace) or hf "
                                                             "(the real Hub, HF_TOKEN from the environment).")]
WorkspaceOption = Annotated[Path | None, typer.Option("--workspace", help="Where runs are written (default: "
                                                                          "workspace/, or scratch/ with --smoke).")]
ForceOption = Annotated[bool, typer.Option(help="Redo the stage even when this config hash is already done.")]
ResultsDirOption = Annotated[Path | None, typer.Option(
    "--results-dir", help="The results folder (default train/results; smoke runs write scratch/results).")]


def results_folder(results_dir: Path | None) -> Path:
    """`--results-dir`, else the repo's train/results; a usage error when it is not a folder."""
    folder = results_dir or load_settings().results_dir
    if not folder.is_dir():
        raise UsageError(f"--results-dir {folder} is not a folder of results files")
    return folder


def context(smoke: bool, hub: str | None, wandb: str | None, workspace: Path | None, force: bool = False,
            smoke_model: SmokeModelChoice = SmokeModelChoice.AUTO, smoke_steps: int = SMOKE_STEPS,
            eval_options: EvalOptions | None = None) -> RunContext:
    """The run's context; a bad --hub or --wandb is a usage error now, not after an hour of training."""
    from pipeline.publish.target import parse_hub
    from pipeline.train.tracking import wandb_mode

    if not smoke and (smoke_model is not SmokeModelChoice.AUTO or smoke_steps != SMOKE_STEPS):
        raise UsageError("--smoke-model and --smoke-steps take effect only with --smoke")
    return make_context(load_settings(), smoke=smoke_model if smoke else None,
                        hub=parse_hub(hub) if hub is not None else None, wandb_mode=wandb_mode(wandb, smoke=smoke),
                        workspace=workspace, force=force, smoke_steps=smoke_steps, eval_options=eval_options)


@contextmanager
def workspace_held(ctx: RunContext) -> Iterator[None]:
    """The workspace lock for a command that writes runs; a second one on the same workspace stops with the
    holder's name (a WorkspaceLocked error)."""
    from pipeline.core.lock import workspace_lock

    with workspace_lock(ctx.workspace):
        yield
