"""The options the stage commands share, parsed once here at the edge into the `RunOptions` pipeline.api takes.

Typer needs each verb's parameters spelled out; these aliases give every verb the same flag with the
same help, and `run_options` is the one place the flags and the GitHub Actions environment become a
`RunOptions`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from pipeline.api import EvalOptions, GitHub, RunOptions
from pipeline.config.effective import SMOKE_STEPS
from pipeline.core.errors import UsageError
from pipeline.core.settings import load_settings
from pipeline.models.smoke import SmokeModelChoice

SmokeOption = Annotated[bool, typer.Option("--smoke", help="A small stand-in base model (see --smoke-model), CPU-safe "
                                                            "settings, all output under scratch/: checks a config "
                                                            "without a GPU.")]
SmokeModelOption = Annotated[SmokeModelChoice, typer.Option(
    "--smoke-model", help="With --smoke: 'auto' trains a shrunken random twin of the config's own architecture with "
                          "its real tokenizer when the base model's config and tokenizer are reachable (local folder, "
                          "HF cache, or the Hub when online), else the embedded SmolLM2-135M-Instruct; 'twin' and "
                          "'embedded' force one; 'tiny' is the random tiny Llama for fast tests. A vision config "
                          "(processor_type) always trains a random tiny twin of its vision family.")]
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
VerboseOption = Annotated[bool, typer.Option("--verbose", "-v", help="Print every setting the run changed in the "
                                                                     "config, not only how many.")]
ConfigsArgument = Annotated[list[Path] | None, typer.Argument(help="Configs to run (default: all pending).")]
ConfigArgument = Annotated[Path, typer.Argument(help="A config in train/config.")]
ReportOption = Annotated[Path | None, typer.Option(help="Write the per-config outcome as JSON here.")]
RunForceOption = Annotated[bool, typer.Option(help="Retrain and re-evaluate even when this config hash is done.")]
AloneOption = Annotated[bool, typer.Option(
    "--alone", help="Only the CONFIGS named, not the pending configs they need, and the judge scores only them "
                    "(a matrix job of haha plan: the needs ran in earlier waves).")]
EvalFileOption = Annotated[Path | None, typer.Option("--eval", help="One sweep spec instead of every task in "
                                                                    "train/eval.")]
AdapterOption = Annotated[Path | None, typer.Option(help="Evaluate this LoRA adapter folder instead of the config's "
                                                         "run.")]
BaseModelOption = Annotated[str | None, typer.Option(help="Base model id or folder (default: the one the run "
                                                          "trained, else the config's base_model).")]
OutOption = Annotated[Path | None, typer.Option(help="Results file (default: `train/results/<basename>.json`, or "
                                                     "scratch/results with --smoke).")]
BatchSizeOption = Annotated[int, typer.Option(min=1, help="Completions per forward pass; lower it to save memory.")]
BaseOption = Annotated[bool, typer.Option("--base", help="The base model without an adapter instead: the reference "
                                                         "row of the index, made once per base model, eval spec and "
                                                         "prompt format into the results folder's base/ "
                                                         "(train/results/base/; with --smoke, scratch/results/base/).")]
MaxNewTokensOption = Annotated[int | None, typer.Option(min=1, help="Cap every setting at N new tokens (default: "
                                                                    "the setting's own, else 64).")]
PredictionsOption = Annotated[Path | None, typer.Option(help="Also write each multiple_choice task's predictions as "
                                                             "`DIR/<task>.json`, the bare {id: letter} file the "
                                                             "caption-contest tools read.", metavar="DIR")]


def results_folder(results_dir: Path | None) -> Path:
    """`--results-dir`, else the repo's train/results; a usage error when it is not a folder."""
    folder = results_dir or load_settings().results_dir
    if not folder.is_dir():
        raise UsageError(f"--results-dir {folder} is not a folder of results files")
    return folder


def github_environment() -> GitHub:
    """What a GitHub Actions job tells a run, read from the environment here and nowhere else."""
    server, repository = os.environ.get("GITHUB_SERVER_URL"), os.environ.get("GITHUB_REPOSITORY")
    summary = os.environ.get("GITHUB_STEP_SUMMARY")
    return GitHub(step_summary=Path(summary) if summary else None,
                  source_repo_url=f"{server}/{repository}" if server and repository else "",
                  run_id=os.environ.get("GITHUB_RUN_ID") or None)


def run_options(*, smoke: bool = False, smoke_model: SmokeModelChoice = SmokeModelChoice.AUTO,
                smoke_steps: int = SMOKE_STEPS, hub: str | None = None, wandb: str | None = None,
                workspace: Path | None = None, force: bool = False, alone: bool = False,
                eval_options: EvalOptions | None = None, report: Path | None = None) -> RunOptions:
    """A verb's flags as the `RunOptions` every stage function takes; what a verb lacks keeps the default."""
    return RunOptions(smoke=smoke, smoke_model=smoke_model, smoke_steps=smoke_steps, hub=hub, wandb=wandb,
                      workspace=workspace, force=force, alone=alone, eval=eval_options or EvalOptions(), report=report,
                      github=github_environment())
