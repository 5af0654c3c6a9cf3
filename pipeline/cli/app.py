"""The `haha` command: thin verbs over the pipeline's stage modules.

Exit codes: 0 success, 1 something checked failed, 2 usage error.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from pipeline.config.effective import SMOKE_STEPS
from pipeline.core.problems import errors, warnings
from pipeline.core.settings import load_settings
from pipeline.models.smoke import SmokeModelChoice

if TYPE_CHECKING:
    from pipeline.orchestration.runner import Outcome, RunContext, StageFn

app = typer.Typer(
    help="Validate, train, publish and evaluate the joke fine-tunes in train/config.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console(highlight=False, soft_wrap=True)
INTERRUPTED = 130  # the shell's code for a run stopped by a signal


@app.callback()
def _root() -> None:
    """Validate, train, publish and evaluate the joke fine-tunes in train/config."""


@app.command()
def validate(
    paths: Annotated[list[str] | None, typer.Argument(help="Config files or folders (default: train/config).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the problems as JSON.")] = False,
    strict: Annotated[bool, typer.Option(help="Fail on warnings too.")] = False,
) -> None:
    """Check configs, their datasets and eval.json without spending GPU time or touching the network.

    PATHS: config files or folders (default: train/config).
    """
    from pipeline.config.validation import readable_lines
    from pipeline.config.validation import validate as run_validation

    settings = load_settings()
    report = run_validation(paths or [str(settings.config_dir)], settings)
    problems = report.problems
    failed = bool(errors(problems)) or (strict and bool(warnings(problems)))
    if as_json:
        print(json.dumps(report.to_json(), indent=2))
    else:
        styles = {"error": "red", "warning": "yellow", "note": "dim", "info": ""}
        for line, severity in readable_lines(report):
            console.print(line, style=styles[severity], markup=False)
        summary = report.to_json()["summary"]
        assert isinstance(summary, dict)
        verdict = "[red]FAILED[/red]" if failed else "[green]OK[/green]"
        console.print(f"{verdict}: {summary['configs']} configs, {summary['errors']} errors, "
                      f"{summary['warnings']} warnings")
    raise typer.Exit(1 if failed else 0)


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
                                                                  "when WANDB_API_KEY is set, else offline).")]
HubOption = Annotated[str | None, typer.Option("--hub", help="local:DIR (default: a folder in the workspace) or hf "
                                                             "(the real Hub, HF_TOKEN from the environment).")]
WorkspaceOption = Annotated[Path | None, typer.Option("--workspace", help="Where runs are written (default: "
                                                                          "workspace/, or scratch/ with --smoke).")]


def _context(smoke: bool, hub: str | None, wandb: str | None, workspace: Path | None, force: bool = False,
             smoke_model: SmokeModelChoice = SmokeModelChoice.AUTO, smoke_steps: int = SMOKE_STEPS) -> RunContext:
    from pipeline.orchestration.runner import make_context
    from pipeline.publish.hub import parse_hub
    from pipeline.train.tracking import wandb_mode

    try:
        mode = wandb_mode(wandb)
        if hub is not None:
            parse_hub(hub)  # a bad --hub is a usage error now, not after an hour of training
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None
    return make_context(load_settings(), smoke_model if smoke else None, hub, mode, workspace, force, smoke_steps)


def _existing_config(path: Path) -> Path:
    if not path.is_file():
        console.print(f"[red]{path}: no such config file[/red]")
        raise typer.Exit(2)
    return path


@app.command("base-model")
def base_model(
    out_dir: Annotated[Path | None, typer.Argument(help="Folder for the converted model (default: the haha cache).")]
    = None,
) -> None:
    """Prepare the embedded base model, SmolLM2-135M-Instruct, from its wheel into a safetensors folder.

    OUT_DIR: where to write it (default: ~/.cache/haha/SmolLM2-135M-Instruct, or $HAHA_CACHE). The first run
    dequantizes the GGUF file (about 30 s); later runs find it done and return at once.
    """
    from pipeline.models.embedded import BaseModelError, is_prepared, prepare_base_model
    from pipeline.models.embedded import default_dir as embedded_dir

    folder = out_dir or embedded_dir()
    if is_prepared(folder):
        console.print(f"embedded base model ready in {folder}", markup=False)
        return
    started = time.monotonic()
    try:
        with console.status("converting SmolLM2-135M-Instruct from GGUF to safetensors"):
            prepare_base_model(folder)
    except BaseModelError as exc:
        console.print(str(exc), style="red", markup=False)
        raise typer.Exit(1) from None
    console.print(f"embedded base model written to {folder} in {time.monotonic() - started:.1f}s", markup=False)


@app.command("tiny-model")
def tiny_model(
    out_dir: Annotated[Path, typer.Argument(help="Folder to write the model and tokenizer to.")],
    seed: Annotated[int, typer.Option(help="Weights seed; the same seed gives the same files.")] = 0,
) -> None:
    """Build the embedded tiny Llama base model (random weights, tokenizer trained on train/data).

    OUT_DIR: the folder to write the model and tokenizer to.
    """
    from pipeline.models.tiny import build_tiny_model

    started = time.monotonic()
    build_tiny_model(out_dir, load_settings().data_dir, seed)
    console.print(f"tiny model written to {out_dir} in {time.monotonic() - started:.1f}s")


@app.command()
def train(
    config: Annotated[Path, typer.Argument(help="A config in train/config.")],
    smoke: SmokeOption = False,
    smoke_model: SmokeModelOption = SmokeModelChoice.AUTO,
    smoke_steps: SmokeStepsOption = SMOKE_STEPS,
    wandb: WandbOption = None,
    workspace: WorkspaceOption = None,
) -> None:
    """Train one config with Axolotl; skips when this exact config already has an adapter.

    CONFIG: a config file in train/config. A run cut off by a signal resumes from its last complete checkpoint.
    """
    from pipeline.orchestration.runner import StageError, stage_train, stage_validate
    from pipeline.train.axolotl import TrainingInterrupted

    ctx = _context(smoke, None, wandb, workspace, smoke_model=smoke_model, smoke_steps=smoke_steps)
    try:
        loaded = stage_validate(ctx, _existing_config(config), full=False)
        with _workspace_held(ctx), console.status("starting axolotl") as status:
            record = stage_train(ctx, loaded, lambda p: status.update(p.describe()))
    except StageError as exc:
        console.print(f"[red]{config.name}: training failed[/red]\n{exc}", soft_wrap=True)
        raise typer.Exit(1) from None
    except TrainingInterrupted as exc:
        console.print(f"[yellow]interrupted[/yellow]: {exc}", soft_wrap=True)
        raise typer.Exit(INTERRUPTED) from None
    for line in record["overrides"]:
        console.print(f"override {line}", style="dim", markup=False)
    verb = "already trained (same config hash), skipped" if record["skipped"] else "trained"
    console.print(f"[green]{config.name}: {verb}[/green]: adapter in {record['run_dir']}/adapter")


@app.command()
def publish(
    config: Annotated[Path, typer.Argument(help="A trained config in train/config.")],
    hub: HubOption = None,
    smoke: SmokeOption = False,
    workspace: WorkspaceOption = None,
) -> None:
    """Push a trained adapter and its model card to <org>/<basename>; skips when the Hub has this config hash.

    CONFIG: a config file in train/config, trained with haha train (same --smoke/--workspace).
    """
    from pipeline.orchestration.runner import Outcome, StageError, stage_publish, stage_validate

    ctx = _context(smoke, hub, None, workspace)
    loaded = stage_validate(ctx, _existing_config(config), full=False)
    outcome = Outcome(config.stem)
    try:
        stage_publish(ctx, loaded, outcome, lambda _text: None)
    except StageError as exc:
        console.print(f"[red]{config.name}: publish failed[/red]\n{exc}", soft_wrap=True)
        raise typer.Exit(1) from None
    except FileNotFoundError:
        console.print(f"[red]{config.name}: not trained yet in {ctx.workspace}[/red]: run haha train first")
        raise typer.Exit(1) from None
    verb = "already on the hub (same config hash), skipped" if outcome.stages["publish"] == "skipped" else "published"
    console.print(f"[green]{config.name}: {verb}[/green]: {outcome.details['hub_url']}")


def _pending_configs(ctx: RunContext) -> list[Path]:
    from pipeline.core.naming import discover
    from pipeline.gitops.changes import pending

    found = pending(discover(ctx.settings.config_dir), ctx.results_dir)
    for item in found:
        console.print(f"pending: {item.path.name} ({item.reason})", markup=False)
    return [item.path for item in found]


def _later_stages() -> list[tuple[str, StageFn]]:
    from pipeline.orchestration.runner import stage_evaluate, stage_publish

    return [("publish", stage_publish), ("evaluate", stage_evaluate)]


@app.command()
def run(
    configs: Annotated[list[Path] | None, typer.Argument(help="Configs to run (default: all pending).")] = None,
    smoke: SmokeOption = False,
    smoke_model: SmokeModelOption = SmokeModelChoice.AUTO,
    smoke_steps: SmokeStepsOption = SMOKE_STEPS,
    hub: HubOption = None,
    wandb: WandbOption = None,
    workspace: WorkspaceOption = None,
    report: Annotated[Path | None, typer.Option(help="Write the per-config outcome as JSON here.")] = None,
    force: Annotated[bool, typer.Option(help="Retrain and re-evaluate even when this config hash is done.")] = False,
) -> None:
    """Validate -> train -> publish -> evaluate each config; one failure never stops the others.

    CONFIGS: config files to run (default: every pending config, see haha pending).
    """
    ctx = _context(smoke, hub, wandb, workspace, force, smoke_model, smoke_steps)
    paths = [_existing_config(p) for p in configs] if configs else _pending_configs(ctx)
    if not paths:
        console.print("nothing to run: every config has results for its current hash")
        raise typer.Exit(0)
    with _workspace_held(ctx):
        outcomes, interrupted = _run_each(ctx, paths)
    _report(ctx, outcomes, report)
    if interrupted is not None:
        console.print(f"interrupted: {interrupted}", style="yellow", soft_wrap=True, markup=False)
        raise typer.Exit(INTERRUPTED)
    raise typer.Exit(1 if any(o.failed for o in outcomes) else 0)


def _run_each(ctx: RunContext, paths: list[Path]) -> tuple[list[Outcome], str | None]:
    """Every config through every stage, one after another; stops early only when asked to (a signal)."""
    from pipeline.orchestration.runner import run_one

    outcomes = []
    interrupted = None
    for index, path in enumerate(paths, start=1):
        console.rule(f"[{index}/{len(paths)}] {path.name}")
        with console.status(f"{path.name}: starting") as status:
            outcome = run_one(ctx, path, _later_stages(), lambda text, s=status, n=path.name: s.update(
                f"{n}: {text}"))
        outcomes.append(outcome)
        if outcome.interrupted:
            interrupted = outcome.error
            break
        for line in outcome.details.get("overrides", []):
            console.print(f"override {line}", style="dim", markup=False)
        console.print(f"{path.name}: " + ", ".join(f"{k} {v}" for k, v in outcome.stages.items()), markup=False)
        if outcome.error:
            console.print(outcome.error, style="red", markup=False)
    return outcomes, interrupted


def _report(ctx: RunContext, outcomes: list[Outcome], report: Path | None) -> None:
    """The closing table, the sample completions, report.json and the Actions job summary."""
    from rich.table import Table

    from pipeline.orchestration.runner import TABLE_HEADER, markdown_summary, outcome_table, sample_table, write_report

    table = Table(*TABLE_HEADER, title="haha run")
    for row in outcome_table(outcomes):
        table.add_row(*row)
    console.print(table)
    for outcome in outcomes:
        if samples := outcome.details.get("samples"):
            header, rows = sample_table(samples)
            samples_view = Table(*header, title=f"{outcome.config}: sample completions, seed 1 "
                                                f"({outcome.details['results']})", show_lines=True)
            for row in rows:
                samples_view.add_row(*row)
            console.print(samples_view)
    report_path = report or ctx.workspace.parent / "report.json"
    write_report(outcomes, report_path)
    console.print(f"report: {report_path}")
    if summary_file := os.environ.get("GITHUB_STEP_SUMMARY"):
        with open(summary_file, "a", encoding="utf-8") as handle:
            handle.write(markdown_summary(outcomes))


@contextmanager
def _workspace_held(ctx: RunContext) -> Iterator[None]:
    """The workspace lock for a training command; a second run on the same workspace stops with the holder's name."""
    from pipeline.core.lock import WorkspaceLocked, workspace_lock

    try:
        with workspace_lock(ctx.workspace):
            yield
    except WorkspaceLocked as exc:
        console.print(str(exc), style="red", soft_wrap=True, markup=False)
        raise typer.Exit(1) from None


@app.command()
def pending(
    diff: Annotated[tuple[str, str] | None, typer.Option(
        "--diff", metavar="BEFORE AFTER",
        help="Also report what the push BEFORE..AFTER touched under train/config (added, modified, renamed, "
             "deleted); first and force pushes are handled.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """List configs that still need a run: no results yet, or results made from a different config hash."""
    from pipeline.core.naming import discover
    from pipeline.gitops.changes import pending as find_pending
    from pipeline.gitops.changes import push_diff
    from pipeline.gitops.git import GitError

    settings = load_settings()
    found = find_pending(discover(settings.config_dir), settings.results_dir)
    try:
        pushed = push_diff(settings.root, diff[0], diff[1], settings.config_dir) if diff else None
    except GitError as exc:
        console.print(f"[red]--diff: {exc}[/red]", markup=True)
        raise typer.Exit(2) from None
    if as_json:
        print(json.dumps({"pending": [{**p.to_json(), "config": _shown(p.path, settings.root)} for p in found],
                          "diff": pushed.to_json() if pushed else None}, indent=2))
        raise typer.Exit(0)
    for item in found:
        console.print(f"{_shown(item.path, settings.root)}: {item.reason}", markup=False)
    console.print(f"{len(found)} pending" if found else "nothing pending: every config has results for its hash")
    if pushed:
        console.print(f"push {pushed.before[:12]}..{pushed.after[:12]} under train/config:", markup=False)
        if pushed.note:
            console.print(f"  note: {pushed.note}", markup=False)
        for change in pushed.changes:
            console.print(f"  {change}", markup=False)
        if not pushed.changes:
            console.print("  nothing changed", markup=False)


def _shown(path: Path, root: Path) -> str:
    try:
        return str(path.resolve().relative_to(root.resolve()))
    except ValueError:
        return str(path)


@app.command("commit-results")
def commit_results(
    message: Annotated[str | None, typer.Option(help="Commit message (default: names the configs).")] = None,
    remote: Annotated[str, typer.Option(help="Remote to push to.")] = "origin",
    branch: Annotated[str, typer.Option(help="Branch to push to.")] = "main",
    attempts: Annotated[int, typer.Option(min=1, help="Pushes to try; each rejection rebases first.")] = 5,
) -> None:
    """Commit train/results (nothing else) and push it, rebasing and retrying when the branch moved; never forces."""
    from pipeline.gitops.commit import commit_results as commit_and_push
    from pipeline.gitops.git import GitError

    settings = load_settings()
    try:
        outcome = commit_and_push(settings.root, _shown(settings.results_dir, settings.root), message, remote,
                                  branch, attempts)
    except GitError as exc:
        console.print(str(exc), style="red", markup=False)
        raise typer.Exit(1) from None
    if not outcome.committed:
        console.print("nothing to commit under train/results")
        raise typer.Exit(0)
    console.print(f"pushed {outcome.sha[:12]} to {remote}/{branch} ({len(outcome.files)} files, "
                  f"{outcome.attempts} attempt{'s' if outcome.attempts > 1 else ''})", markup=False)


@app.command()
def results(
    strict: Annotated[bool, typer.Option(help="Exit 1 when a results file cannot be read.")] = False,
) -> None:
    """Rebuild train/results/README.md and index.html from the results files."""
    from pipeline.results.index import write_index

    results_dir = load_settings().results_dir
    scan = write_index(results_dir)
    for broken in scan.broken:
        Console(stderr=True, highlight=False, soft_wrap=True).print(f"unreadable: {broken}", style="red",
                                                                    markup=False)
    console.print(f"indexed {len(scan.entries)} results files ({len(scan.broken)} unreadable): "
                  f"{results_dir / 'README.md'}, {results_dir / 'index.html'}", markup=False)
    raise typer.Exit(1 if strict and scan.broken else 0)


@app.command()
def compare(
    refs: Annotated[list[str], typer.Argument(help="Two or more results: basenames (haha-017) or paths.")],
    prompt: Annotated[str, typer.Option(help="Only prompts containing this text.")] = "",
) -> None:
    """Show configs' completions side by side, per prompt, seed and temperature, after their hyperparameter diff."""
    from pipeline.results.compare import compare_renderables, resolve_results
    from pipeline.results.model import ResultsError, load_results

    if len(refs) < 2:
        console.print("[red]compare needs two or more results files[/red]")
        raise typer.Exit(2)
    results_dir = load_settings().results_dir
    try:
        paths = [resolve_results(ref, results_dir) for ref in refs]
    except LookupError as exc:
        console.print(str(exc), style="red", markup=False)
        raise typer.Exit(2) from None
    try:
        named = [(path.stem, load_results(path)) for path in paths]
    except ResultsError as exc:
        console.print(str(exc), style="red", markup=False)
        raise typer.Exit(1) from None
    for renderable in compare_renderables(named, prompt):
        console.print(renderable, soft_wrap=False)


@app.command()
def evaluate(
    config: Annotated[Path, typer.Argument(help="A config in train/config.")],
    adapter: Annotated[Path | None, typer.Option(help="LoRA adapter folder (default: the config's run in "
                                                      "workspace/runs).")] = None,
    base_model: Annotated[str | None, typer.Option(help="Base model id or folder (default: the config's "
                                                        "base_model).")] = None,
    out: Annotated[Path | None, typer.Option(help="Results file (default: train/results/<basename>.json).")] = None,
    eval_file: Annotated[Path | None, typer.Option("--eval", help="Eval spec (default: train/eval/eval.json).")] = None,
    batch_size: Annotated[int, typer.Option(min=1, help="Completions per forward pass; lower it to save "
                                                        "memory.")] = 64,
    max_new_tokens: Annotated[int | None, typer.Option(min=1, help="Cap every setting at N new tokens (default: "
                                                                   "the setting's own, else 64).")] = None,
) -> None:
    """Run the eval sweep (prompts x settings x seeds) and write the results file; resumes a cut-off sweep."""
    from pipeline.core.naming import basename_of
    from pipeline.core.quiet import import_training_stack
    from pipeline.core.runs import RunPaths
    from pipeline.evaluate.spec import load_eval
    from pipeline.evaluate.sweep import EvalError, rich_progress
    from pipeline.evaluate.sweep import evaluate as run_sweep
    from pipeline.orchestration.runner import make_context

    settings = load_settings()
    name = basename_of(_existing_config(config))
    adapter_dir = adapter or RunPaths(make_context(settings, None, None, "disabled").workspace, name).adapter_dir
    # Import-time library noise goes to a log beside the run (nowhere when there is no run to put it beside).
    import_training_stack(adapter_dir.parent / "eval.log" if adapter_dir.parent.is_dir() else None)
    try:
        spec = load_eval(eval_file or settings.eval_file)
        with rich_progress() as on_progress:
            report = run_sweep(config, adapter_dir, base_model, out or settings.results_dir / f"{name}.json", spec,
                               batch_size=batch_size, max_new_tokens=max_new_tokens, on_progress=on_progress)
    except (EvalError, ValueError) as exc:
        console.print(f"{name}: evaluation failed: {exc}", style="red", markup=False)
        raise typer.Exit(1) from None
    console.print(f"{name}: {report.computed} cells computed, {report.resumed} resumed, {report.cells} in all, "
                  f"{report.seconds:.1f}s: {report.path}", markup=False)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
