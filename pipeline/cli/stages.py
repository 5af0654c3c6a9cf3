"""`haha train`, `haha publish`, `haha evaluate` (one stage each) and `haha run` (every stage, every config)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from pipeline.cli.app import INTERRUPTED, app, console, errors, existing_config, say, verb
from pipeline.cli.options import (
    ForceOption,
    HubOption,
    SmokeModelOption,
    SmokeOption,
    SmokeStepsOption,
    WandbOption,
    WorkspaceOption,
    context,
    workspace_held,
)
from pipeline.config.effective import SMOKE_STEPS
from pipeline.core.errors import UsageError
from pipeline.models.smoke import SmokeModelChoice
from pipeline.orchestration.context import EvalOptions, RunContext
from pipeline.orchestration.outcome import Outcome, StageName
from pipeline.orchestration.stages import (
    PIPELINE,
    BaseReferenceStage,
    EvaluateStage,
    PublishStage,
    Stage,
    TrainStage,
    single,
)


def run_configs(ctx: RunContext, paths: Sequence[Path], stages: Sequence[Stage]) -> list[Outcome]:
    """Each config through the stages with a status line; stops early only when asked to (a signal)."""
    from pipeline.orchestration.runner import run_stages

    outcomes = []
    with workspace_held(ctx):
        for index, path in enumerate(paths, start=1):
            if len(paths) > 1:
                console.rule(f"[{index}/{len(paths)}] {path.name}")
            with console.status(f"{path.name}: starting") as status:
                outcome = run_stages(ctx, path, stages, lambda text, n=path.name: status.update(f"{n}: {text}"))
            outcomes.append(outcome)
            if outcome.train:
                for line in outcome.train.overrides:
                    say(f"override {line}", "dim")
                for warning in outcome.train.warnings:
                    say(f"{path.name}: warning: {warning}", "yellow")
            say(f"{path.name}: " + ", ".join(f"{name} {outcome.stages[name]}" for name in _ran(stages)))
            if outcome.error:
                errors.print(outcome.error, style="yellow" if outcome.interrupted else "red", markup=False)
            if outcome.interrupted:
                break
    return outcomes


def _ran(stages: Sequence[Stage]) -> list[StageName]:
    return [stage.name for stage in stages]


def show_samples(outcome: Outcome) -> None:
    from pipeline.orchestration.report import eval_headlines, packing_line, sample_table, training_sample_table

    if outcome.train and (packing := packing_line(outcome.train.record)):
        say(f"{outcome.config}: {packing}")
    if outcome.train and outcome.train.record.samples:
        _print_table(*training_sample_table(outcome.train.record.samples),
                     f"{outcome.config}: samples generated during training ({outcome.train.run_dir / 'complete.json'})")
    for line in eval_headlines(outcome):
        say(f"{outcome.config}: {line}")
    if outcome.evaluation and outcome.evaluation.samples:
        _print_table(*sample_table(outcome.evaluation.samples, outcome.evaluation.before),
                     f"{outcome.config}: sample completions, seed 1 ({outcome.evaluation.results_path})")


def _print_table(header: list[str], rows: list[list[str]], title: str) -> None:
    view = Table(*header, title=title, show_lines=True)
    for row in rows:
        view.add_row(*row)
    console.print(view)


def exit_for(outcomes: Sequence[Outcome]) -> None:
    if any(o.interrupted for o in outcomes):
        raise typer.Exit(INTERRUPTED)
    raise typer.Exit(1 if any(o.failed for o in outcomes) else 0)


def one_stage(ctx: RunContext, config: Path, stage: Stage) -> Outcome:
    outcome = run_configs(ctx, [existing_config(config)], single(stage))[0]
    if outcome.failed:
        exit_for([outcome])
    return outcome


@app.command()
@verb
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
    alone: Annotated[bool, typer.Option(
        "--alone", help="Only the CONFIGS named, not the pending configs they need, and the judge scores only them "
                        "(a matrix job of haha plan: the needs ran in earlier waves).")] = False,
) -> None:
    """Validate -> train -> publish -> evaluate each config; one failure never stops the others.

    CONFIGS: config files to run (default: the pending ones, see haha pending; with --smoke, against smoke results).
    """
    if alone and not configs:
        raise UsageError("--alone runs the CONFIGS named: name them")
    ctx = context(smoke, hub, wandb, workspace, force, smoke_model, smoke_steps)
    named = [existing_config(p) for p in configs or []]
    paths = (named if alone else with_parents(ctx, named)) if configs else pending_configs(ctx)
    if not paths:
        say("nothing to run: every config has results for its current hash")
        raise typer.Exit(0)
    outcomes = run_configs(ctx, paths, PIPELINE)
    from pipeline.results.failures import note_outcomes

    ran = zip(paths, outcomes, strict=False)  # a signal ends the run early: fewer outcomes than paths
    note_outcomes(ctx.results_dir, [(path, outcome.error or None) for path, outcome in ran if not outcome.interrupted])
    if not any(outcome.interrupted for outcome in outcomes):
        from pipeline.cli.judging import run_judge

        run_judge(ctx, quiet_when_unready=True, only={path.stem for path in paths} if alone else None)
    close_run(ctx, outcomes, report)
    exit_for(outcomes)


@app.command()
@verb
def train(
    config: Annotated[Path, typer.Argument(help="A config in train/config.")],
    smoke: SmokeOption = False,
    smoke_model: SmokeModelOption = SmokeModelChoice.AUTO,
    smoke_steps: SmokeStepsOption = SMOKE_STEPS,
    wandb: WandbOption = None,
    workspace: WorkspaceOption = None,
    force: ForceOption = False,
) -> None:
    """Train one config with Axolotl; skips when this exact config already has an adapter.

    CONFIG: a config file in train/config. A run cut off by a signal resumes from its last complete checkpoint.
    """
    ctx = context(smoke, None, wandb, workspace, force, smoke_model, smoke_steps)
    outcome = one_stage(ctx, config, TrainStage())
    assert outcome.train is not None
    losses = outcome.train.record.losses
    if losses:
        say(f"loss {losses[0]:.3f} -> {losses[-1]:.3f} over {outcome.train.record.steps} steps")
    say(f"adapter: {outcome.train.run_dir / 'adapter'}")


@app.command()
@verb
def publish(
    config: Annotated[Path, typer.Argument(help="A trained config in train/config.")],
    hub: HubOption = None,
    smoke: SmokeOption = False,
    wandb: WandbOption = None,
    workspace: WorkspaceOption = None,
    force: ForceOption = False,
) -> None:
    """Push a trained adapter and its model card to `<org>/<basename>`; skips when the Hub has this exact push.

    CONFIG: a config file in train/config, trained with haha train (same --smoke/--workspace).
    """
    ctx = context(smoke, hub, wandb, workspace, force)
    outcome = one_stage(ctx, config, PublishStage())
    assert outcome.publish is not None
    say(f"hub: {outcome.publish.url}")


@app.command()
@verb
def evaluate(
    config: Annotated[Path, typer.Argument(help="A config in train/config.")],
    smoke: SmokeOption = False,
    wandb: WandbOption = None,
    workspace: WorkspaceOption = None,
    force: ForceOption = False,
    adapter: Annotated[Path | None, typer.Option(help="Evaluate this LoRA adapter folder instead of the config's "
                                                      "run.")] = None,
    base_model: Annotated[str | None, typer.Option(help="Base model id or folder (default: the one the run "
                                                        "trained, else the config's base_model).")] = None,
    out: Annotated[Path | None, typer.Option(help="Results file (default: `train/results/<basename>.json`, or "
                                                  "scratch/results with --smoke).")] = None,
    eval_file: Annotated[Path | None, typer.Option("--eval", help="One sweep spec instead of every task in "
                                                                  "train/eval.")] = None,
    batch_size: Annotated[int, typer.Option(min=1, help="Completions per forward pass; lower it to save "
                                                        "memory.")] = 64,
    base: Annotated[bool, typer.Option("--base", help="The base model without an adapter instead: the reference "
                                                      "row of the index, made once per base model, eval spec and "
                                                      "prompt format into the results folder's base/ "
                                                      "(train/results/base/; with --smoke, scratch/results/base/).")]
    = False,
    max_new_tokens: Annotated[int | None, typer.Option(min=1, help="Cap every setting at N new tokens (default: "
                                                                   "the setting's own, else 64).")] = None,
    predictions: Annotated[Path | None, typer.Option(help="Also write each multiple_choice task's predictions as "
                                                          "`DIR/<task>.json`, the bare {id: letter} file the "
                                                          "caption-contest tools read.", metavar="DIR")] = None,
) -> None:
    """Run the eval tasks (the sweep: prompts x settings x seeds) and write the results file; resumes a cut-off eval.

    CONFIG: a config in train/config, trained with haha train (same --smoke/--workspace), or any with --adapter.
    """
    if base and adapter is not None:
        raise UsageError("--base evaluates the base model without an adapter: leave out --adapter")
    options = EvalOptions(batch_size, max_new_tokens, adapter, base_model, out, eval_file)
    # Forced when the adapter or the output is named: the hash check is for the run's own adapter and results.
    ctx = context(smoke, None, wandb, workspace, force or adapter is not None or out is not None,
                  eval_options=options)
    outcome = one_stage(ctx, config, BaseReferenceStage() if base else EvaluateStage())
    evaluation = outcome.evaluation
    assert evaluation is not None
    show_samples(outcome)
    if evaluation.report is None:
        done = "this base model, eval spec and prompt format" if base else "this config hash"
        say(f"{outcome.config}: already evaluated for {done}: {evaluation.results_path}")
    else:
        report = evaluation.report
        say(f"{outcome.config}: {report.computed} cells computed, {report.resumed} resumed, {report.units} in all, "
            f"{report.seconds:.1f}s: {report.path}")
    if predictions is not None:
        from pipeline.evaluate.multiple_choice import write_predictions

        written = write_predictions(evaluation.results_path, predictions)
        for path in written:
            say(f"{outcome.config}: predictions written to {path}")
        if not written:
            say(f"{outcome.config}: no multiple_choice task ran, so there are no predictions to write", "yellow")


def pending_configs(ctx: RunContext) -> list[Path]:
    from pipeline.core.naming import discover
    from pipeline.orchestration.needs import needs_of
    from pipeline.results.pending import pending

    found = pending(discover(ctx.settings.config_dir), ctx.results_dir, needs_of(ctx.settings.eval_dir))
    for item in found:
        say(f"pending: {item.path.name} ({item.reason})")
    return [item.path for item in found]


def with_parents(ctx: RunContext, paths: list[Path]) -> list[Path]:
    """The configs asked for, after any pending `haha_parent` they start from (which runs first)."""
    from pipeline.orchestration.needs import needs_of
    from pipeline.results.pending import with_pending_needs

    ordered, added = with_pending_needs(paths, ctx.results_dir, needs_of(ctx.settings.eval_dir))
    for item in added:
        say(f"also running {item.path.name}: {item.reason}")
    return ordered


def close_run(ctx: RunContext, outcomes: Sequence[Outcome], report: Path | None) -> None:
    """The closing table, the sample completions, report.json and the Actions job summary."""
    from pipeline.orchestration.report import (
        TABLE_HEADER,
        family_comparisons,
        markdown_summary,
        outcome_table,
        write_report,
    )

    table = Table(*TABLE_HEADER, title="haha run")
    table.columns[0].overflow = "fold"  # config names stay whole on an 80-column CI log
    for row in outcome_table(outcomes):
        table.add_row(*row)
    console.print(table)
    for outcome in outcomes:
        show_samples(outcome)
    comparisons = family_comparisons(outcomes)
    for comparison in comparisons.values():
        view = Table("signal", comparison.previous, comparison.config, "change",
                     title=f"{comparison.config} beside {comparison.previous}, the previous config of its family")
        if comparison.caveat:
            say(f"{comparison.config}: {comparison.caveat}", "yellow")
        for row in comparison.rows:
            view.add_row(row.label, row.previous, row.current, row.change)
        console.print(view)
    report_path = report or ctx.workspace.parent / "report.json"
    write_report(outcomes, report_path, comparisons)
    say(f"report: {report_path}")
    if summary_file := os.environ.get("GITHUB_STEP_SUMMARY"):
        with open(summary_file, "a", encoding="utf-8") as handle:
            handle.write(markdown_summary(outcomes, comparisons))
