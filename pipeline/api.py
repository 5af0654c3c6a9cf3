"""haha as a library: the whole pipeline (`run`) and each of its stages, what the `haha` verbs call.

    from pathlib import Path
    from pipeline.api import RunOptions, run

    report = run([Path("train/config/haha-llama-3-8b-lora-001.yml")], RunOptions(smoke=True))
    report.outcomes[0].stages  # validate ok, train trained, publish published, evaluate evaluated

Nothing here prints, and nothing reads GitHub Actions' variables: progress reaches the caller through a
`RunListener` (silent by default), and what the Actions job says (`GitHub`) is handed in by the caller.
A config's failure is in its `Outcome`, never raised; a mistake in the options is a `UsageError`.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

from pipeline.config.effective import SMOKE_STEPS
from pipeline.core.errors import HahaError, UsageError
from pipeline.core.lock import workspace_lock
from pipeline.core.settings import load_settings
from pipeline.evaluate.multiple_choice import write_predictions as write_choice_predictions
from pipeline.judges.run import JudgingOutcome
from pipeline.models.smoke import SmokeModelChoice
from pipeline.orchestration.context import EvalOptions, RunContext, make_context
from pipeline.orchestration.judging import JudgeReport, judge_results
from pipeline.orchestration.llm_judging import judge_with_llm
from pipeline.orchestration.outcome import Outcome
from pipeline.orchestration.report import RunReport, family_comparisons, markdown_summary, write_report
from pipeline.orchestration.runner import SILENT, Chosen, RunListener, Silent, choose_configs, run_configs
from pipeline.orchestration.stages import (
    PIPELINE,
    BaseReferenceStage,
    EvaluateStage,
    PublishStage,
    Stage,
    TrainStage,
    single,
)
from pipeline.orchestration.state import Step
from pipeline.results.failures import note_outcomes
from pipeline.train.tracking import wandb_mode

__all__ = [
    "Chosen",
    "EvalOptions",
    "GitHub",
    "JudgeReport",
    "JudgingOutcome",
    "Outcome",
    "RunListener",
    "RunOptions",
    "RunReport",
    "Silent",
    "Step",
    "evaluate",
    "existing_config",
    "judge",
    "judge_pairwise",
    "publish",
    "run",
    "train",
    "write_predictions",
]


@dataclass(frozen=True)
class GitHub:
    """What a GitHub Actions job tells a run; the CLI reads it from the environment, once."""

    step_summary: Path | None = None  # $GITHUB_STEP_SUMMARY: the run's markdown summary is appended to it
    source_repo_url: str = ""  # $GITHUB_SERVER_URL/$GITHUB_REPOSITORY: model cards link the configs' repo
    run_id: str | None = None  # $GITHUB_RUN_ID: a failure record names the run that failed (else its time)


@dataclass(frozen=True)
class RunOptions:
    """How stages run; `haha run`, `train`, `publish`, `evaluate` and `judge` each build one from their flags."""

    smoke: bool = False  # a small stand-in base model, CPU-safe settings, everything under scratch/
    smoke_model: SmokeModelChoice = SmokeModelChoice.AUTO  # which stand-in (smoke runs only)
    smoke_steps: int = SMOKE_STEPS  # optimizer steps a smoke run trains
    hub: str | None = None  # "local:DIR" or "hf"; None: a local hub in the workspace
    wandb: str | None = None  # online | offline | disabled; None: online with WANDB_API_KEY, else offline
    workspace: Path | None = None  # where runs go; None: workspace/, or scratch/ for smoke runs
    force: bool = False  # redo every stage even when this config hash is done
    alone: bool = False  # only the configs named, not the pending ones they need; the judge scores only them
    eval: EvalOptions = field(default_factory=EvalOptions)
    report: Path | None = None  # report.json; None: beside the workspace's runs
    github: GitHub = field(default_factory=GitHub)
    root: Path | None = None  # the repo; None: $HAHA_ROOT, else the one around the current folder


def context(options: RunOptions) -> RunContext:
    """The run's context; a bad hub or W&B mode is a usage error now, not after an hour of training."""
    # Deferred: choosing a hub loads the Hugging Face client, which the light verbs (plan, commit-results) lack.
    from pipeline.publish.target import parse_hub

    if not options.smoke and (options.smoke_model is not SmokeModelChoice.AUTO or options.smoke_steps != SMOKE_STEPS):
        raise UsageError("--smoke-model and --smoke-steps take effect only with --smoke")
    return make_context(load_settings(options.root), smoke=options.smoke_model if options.smoke else None,
                        hub=parse_hub(options.hub) if options.hub is not None else None,
                        wandb_mode=wandb_mode(options.wandb, smoke=options.smoke), workspace=options.workspace,
                        force=options.force, smoke_steps=options.smoke_steps, eval_options=options.eval,
                        source_repo_url=options.github.source_repo_url)


def existing_config(path: Path) -> Path:
    if not path.is_file():
        raise UsageError(f"{path}: no such config file")
    return path


def run(configs: Sequence[Path] = (), options: RunOptions = RunOptions(), listener: RunListener = SILENT) -> RunReport:
    """Validate -> train -> publish -> evaluate each config (default: every pending one), then the judge; one
    failing config never stops the others. Writes report.json and, in Actions, the job summary."""
    if options.alone and not configs:
        raise UsageError("--alone runs the CONFIGS named: name them")
    ctx = context(options)
    chosen = choose_configs(ctx, [existing_config(path) for path in configs], options.alone)
    listener.configs_chosen(chosen)
    if not chosen.paths:
        return RunReport((), chosen, _now())
    outcomes = run_configs(ctx, chosen.paths, PIPELINE, listener)
    ran = zip(chosen.paths, outcomes, strict=False)  # a signal ends the run early: fewer outcomes than paths
    note_outcomes(ctx.results_dir, [(path, outcome.error or None) for path, outcome in ran if not outcome.interrupted],
                  options.github.run_id)
    judged, skipped = None, ""
    if not any(outcome.interrupted for outcome in outcomes) and ctx.settings.judge:
        try:
            judged = _judge(ctx, listener, {path.stem for path in chosen.paths} if options.alone else None)
        except HahaError as exc:  # a judge not trained yet is a note after a run; the run's own outcome stands
            skipped = str(exc)
    path = options.report or ctx.workspace.parent / "report.json"
    report = RunReport(tuple(outcomes), chosen, _now(), family_comparisons(outcomes), judged, skipped, path)
    write_report(report, path)
    if options.github.step_summary is not None:
        with options.github.step_summary.open("a", encoding="utf-8") as handle:
            handle.write(markdown_summary(report.outcomes, report.comparisons))
    return report


def train(config: Path, options: RunOptions = RunOptions(), listener: RunListener = SILENT) -> Outcome:
    """Train one config with Axolotl, after the light validation; skipped when this config already has an adapter."""
    return _one_stage(config, options, TrainStage(), listener)


def publish(config: Path, options: RunOptions = RunOptions(), listener: RunListener = SILENT) -> Outcome:
    """Push a trained config's adapter and model card; skipped when the hub has this exact push."""
    return _one_stage(config, options, PublishStage(), listener)


def evaluate(config: Path, options: RunOptions = RunOptions(), listener: RunListener = SILENT,
             base: bool = False) -> Outcome:
    """Run a config's eval tasks into its results file, or (`base`) the sweep on its base model without the
    adapter, the reference row of the index."""
    if base and options.eval.adapter_dir is not None:
        raise UsageError("--base evaluates the base model without an adapter: leave out --adapter")
    if options.eval.adapter_dir is not None or options.eval.out_path is not None:
        # The hash check is for the run's own adapter and results: another adapter or file is evaluated anew.
        options = replace(options, force=True)
    return _one_stage(config, options, BaseReferenceStage() if base else EvaluateStage(), listener)


def judge(options: RunOptions = RunOptions(), listener: RunListener = SILENT,
          only: Collection[str] | None = None) -> JudgeReport:
    """The judge set in [tool.haha] scores every results file it has not scored (of the configs `only` names, and
    the base-model references)."""
    ctx = context(options)
    if not ctx.settings.judge:
        raise UsageError("no judge: set [tool.haha] judge to a reward config's basename")
    return _judge(ctx, listener, only)


def judge_pairwise(judge_name: str | None, results_dir: Path, configs: Sequence[str] | None = None,
                   against: str | None = None, root: Path | None = None,
                   on_progress: Callable[[int, int], None] = lambda _done, _total: None) -> JudgingOutcome:
    """An LLM judge of [tool.haha.judges] (the only one declared when `judge_name` is None) compares `configs`
    (default: every config with results) with `against`, or with their family's previous config and their base
    reference; answers are cached, so a re-run asks nothing. Failed questions are in the outcome, never raised."""
    return judge_with_llm(load_settings(root), results_dir, judge_name, configs, against, on_progress=on_progress)


def write_predictions(outcome: Outcome, folder: Path) -> list[Path]:
    """Each multiple_choice task's predictions of an evaluated config as `folder/<task>.json` ({id: letter})."""
    if outcome.evaluation is None:
        return []
    return write_choice_predictions(outcome.evaluation.results_path, folder)


def _one_stage(config: Path, options: RunOptions, stage: Stage, listener: RunListener) -> Outcome:
    return run_configs(context(options), [existing_config(config)], single(stage), listener)[0]


def _judge(ctx: RunContext, listener: RunListener, only: Collection[str] | None) -> JudgeReport:
    with workspace_lock(ctx.workspace):
        report = judge_results(ctx, partial(listener.step, "judge"), only)
    assert report is not None, "a judge is set"
    return report


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
