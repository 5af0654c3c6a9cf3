"""The `haha` command: thin verbs over the pipeline's stage modules.

Exit codes: 0 success, 1 something checked failed, 2 usage error.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from pipeline.problems import errors, warnings
from pipeline.settings import load_settings

if TYPE_CHECKING:
    from pipeline.runner import RunContext

app = typer.Typer(
    help="Validate, train, publish and evaluate the joke fine-tunes in train/config.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console(highlight=False, soft_wrap=True)


@app.callback()
def _root() -> None:
    """Validate, train, publish and evaluate the joke fine-tunes in train/config."""


@app.command()
def validate(
    paths: Annotated[list[str] | None, typer.Argument(help="Config files or folders (default: train/config).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the problems as JSON.")] = False,
    strict: Annotated[bool, typer.Option(help="Fail on warnings too.")] = False,
) -> None:
    """Check configs, their datasets and eval.json without spending GPU time or touching the network."""
    from pipeline.validation import validate as run_validation

    settings = load_settings()
    report = run_validation(paths or [str(settings.config_dir)], settings)
    problems = report.problems
    failed = bool(errors(problems)) or (strict and bool(warnings(problems)))
    if as_json:
        print(json.dumps(report.to_json(), indent=2))
    else:
        for problem in problems:
            style = {"error": "red", "warning": "yellow", "note": "dim"}[problem.severity]
            console.print(str(problem), style=style, markup=False)
        for config in report.configs:
            for stats in config.datasets:
                dropped = "not counted" if stats.too_long is None else f"{stats.too_long} too long"
                console.print(f"{config.path.name}: {stats.file}: {stats.rows} rows, {stats.duplicates} duplicates, "
                              f"{dropped}", markup=False)
        summary = report.to_json()["summary"]
        assert isinstance(summary, dict)
        verdict = "[red]FAILED[/red]" if failed else "[green]OK[/green]"
        console.print(f"{verdict}: {summary['configs']} configs, {summary['errors']} errors, "
                      f"{summary['warnings']} warnings")
    raise typer.Exit(1 if failed else 0)


SmokeOption = Annotated[bool, typer.Option("--smoke", help="Tiny base model, CPU-safe settings, all output under "
                                                            "scratch/: checks a config without a GPU.")]
WandbOption = Annotated[str | None, typer.Option("--wandb", help="online | offline | disabled (default: online "
                                                                  "when WANDB_API_KEY is set, else offline).")]
HubOption = Annotated[str | None, typer.Option("--hub", help="local:DIR (default: a folder in the workspace) or hf "
                                                             "(the real Hub, HF_TOKEN from the environment).")]
WorkspaceOption = Annotated[Path | None, typer.Option("--workspace", help="Where runs are written (default: "
                                                                          "workspace/, or scratch/ with --smoke).")]


def _context(smoke: bool, hub: str | None, wandb: str | None, workspace: Path | None) -> RunContext:
    from pipeline.runner import make_context
    from pipeline.tracking import wandb_mode

    try:
        mode = wandb_mode(wandb)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None
    return make_context(load_settings(), smoke, hub, mode, workspace)


def _existing_config(path: Path) -> Path:
    if not path.is_file():
        console.print(f"[red]{path}: no such config file[/red]")
        raise typer.Exit(2)
    return path


@app.command("tiny-model")
def tiny_model(
    out_dir: Annotated[Path, typer.Argument(help="Folder to write the model and tokenizer to.")],
    seed: Annotated[int, typer.Option(help="Weights seed; the same seed gives the same files.")] = 0,
) -> None:
    """Build the embedded tiny Llama base model (random weights, tokenizer trained on train/data)."""
    from pipeline.tiny_model import build_tiny_model

    started = time.monotonic()
    build_tiny_model(out_dir, load_settings().data_dir, seed)
    console.print(f"tiny model written to {out_dir} in {time.monotonic() - started:.1f}s")


@app.command()
def train(
    config: Annotated[Path, typer.Argument(help="A config in train/config.")],
    smoke: SmokeOption = False,
    wandb: WandbOption = None,
    workspace: WorkspaceOption = None,
) -> None:
    """Train one config with Axolotl; skips when this exact config already has an adapter."""
    from pipeline.runner import StageError, stage_train, stage_validate

    ctx = _context(smoke, None, wandb, workspace)
    try:
        loaded = stage_validate(ctx, _existing_config(config))
        with console.status("starting axolotl") as status:
            record = stage_train(ctx, loaded, lambda p: status.update(p.describe()))
    except StageError as exc:
        console.print(f"[red]{config.name}: training failed[/red]\n{exc}", soft_wrap=True)
        raise typer.Exit(1) from None
    for line in record["overrides"]:
        console.print(f"override {line}", style="dim", markup=False)
    verb = "already trained (same config hash), skipped" if record["skipped"] else "trained"
    console.print(f"[green]{config.name}: {verb}[/green]: adapter in {record['run_dir']}/adapter")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
