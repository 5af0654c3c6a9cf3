"""`haha run` and the per-stage verbs: validate -> train -> publish -> evaluate for each config.

One failing config never stops the others; every config ends with an outcome saying
what happened at each stage, and the whole run ends with a table and a JSON report.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml

from pipeline.config.effective import SMOKE_STEPS, RunPlan, effective_config
from pipeline.config.loading import ConfigLoadError, LoadedConfig, load_config
from pipeline.config.policy import check_policy
from pipeline.config.rules import check_haha_rules, dataset_file
from pipeline.config.validation import validate_config
from pipeline.core.files import write_atomic
from pipeline.core.naming import basename_of, name_problem
from pipeline.core.problems import Problem, errors
from pipeline.core.quiet import import_training_stack
from pipeline.core.runs import RunPaths
from pipeline.core.settings import Settings
from pipeline.data.rows import row_count
from pipeline.evaluate.spec import Cell, EvalSpec, load_eval, sample_cells
from pipeline.models.smoke import SmokeModel, SmokeModelChoice, SmokeModelError, choose_smoke_model
from pipeline.publish.modelcard import CardInputs, DatasetFile, WandbRun, render_card
from pipeline.results.model import ResultsError, load_results
from pipeline.train.axolotl import Progress, TrainingError, TrainingInterrupted, train
from pipeline.train.tracking import offline_runs

STAGES = ("validate", "train", "publish", "evaluate")


class StageError(Exception):
    """A stage failed for this config; the message is for the person who wrote the config."""


@dataclass(frozen=True)
class RunContext:
    """Everything a run needs besides the config; `smoke` runs live entirely under `scratch/`."""

    settings: Settings
    workspace: Path
    results_dir: Path
    hub: str
    wandb_mode: str
    smoke_model: SmokeModelChoice | None = None  # set for smoke runs: which model stands in for the real one
    smoke_steps: int = SMOKE_STEPS
    force: bool = False  # redo every stage even when this config hash is already done

    @property
    def smoke(self) -> bool:
        return self.smoke_model is not None

    @property
    def tiny_model_dir(self) -> Path:
        """Where `--smoke-model tiny` builds the random tiny Llama: beside the runs, under scratch/."""
        return self.workspace.parent / "tiny-model"


@dataclass
class Outcome:
    config: str
    stages: dict[str, str] = field(default_factory=lambda: dict.fromkeys(STAGES, "-"))
    error: str = ""
    details: dict[str, Any] = field(default_factory=dict)
    interrupted: bool = False  # stopped by a signal: the run ends after this config

    @property
    def failed(self) -> bool:
        return bool(self.error)


def make_context(settings: Settings, smoke: SmokeModelChoice | None, hub: str | None, wandb_mode: str,
                 workspace: Path | None = None, force: bool = False, smoke_steps: int = SMOKE_STEPS) -> RunContext:
    """`smoke` None is a real run into workspace/ and train/results; a choice is a smoke run under scratch/."""
    if smoke is not None:
        scratch = workspace or settings.root / "scratch"
        return RunContext(settings, scratch / "runs", scratch / "results", hub or f"local:{scratch / 'hub'}",
                          wandb_mode, smoke, smoke_steps, force)
    base = workspace or Path(os.environ.get("HAHA_WORKSPACE", settings.root / "workspace"))
    return RunContext(settings, base / "runs", settings.results_dir, hub or f"local:{base / 'hub'}", wandb_mode,
                      force=force)


def run_paths(ctx: RunContext, config_path: Path) -> RunPaths:
    return RunPaths(ctx.workspace, basename_of(config_path))


def smoke_model_for(ctx: RunContext, config: LoadedConfig) -> SmokeModel | None:
    """The model this config's smoke run trains (None for a real run); a twin is built on first use."""
    if ctx.smoke_model is None:
        return None
    from pipeline.models.embedded import BaseModelError

    try:
        return choose_smoke_model(config.data, ctx.smoke_model, ctx.tiny_model_dir, ctx.settings.data_dir)
    except (SmokeModelError, BaseModelError) as exc:
        raise StageError(str(exc)) from None


def effective_for(ctx: RunContext, config: LoadedConfig) -> tuple[dict[str, Any], list[str]]:
    run = run_paths(ctx, config.path)
    plan = RunPlan(run.adapter_dir.resolve(), run.prepared_dir.resolve(), ctx.settings.data_dir.resolve(),
                   ctx.wandb_mode, smoke_model_for(ctx, config), ctx.smoke_steps)
    effective, overrides = effective_config(config.data, run.basename, ctx.settings, plan)
    return effective, [str(o) for o in overrides]


def stage_validate(ctx: RunContext, path: Path, full: bool = True) -> LoadedConfig:
    """Full validation, or (`full=False`, for `haha train`) just the pure haha and safety rules.

    The full check imports Axolotl's schema, seconds that `haha train` should not add on top
    of a training run whose child process validates the config itself.
    """
    if (bad_name := name_problem(path)) is not None:
        raise StageError(str(Problem(str(path), None, "filename", bad_name)))
    if full:
        report = validate_config(path, ctx.settings, count_lengths=not ctx.smoke)
        problems, config = report.problems, report.config
    else:
        try:
            config = load_config(path)
        except ConfigLoadError as exc:
            raise StageError(str(Problem(str(path), exc.line, "yaml", exc.message))) from None
        problems = check_haha_rules(config, ctx.settings, str(path)) + check_policy(config, ctx.settings, str(path))
    if failures := errors(problems):
        raise StageError("\n".join(str(p) for p in failures))
    assert config is not None
    return config


def stage_train(ctx: RunContext, config: LoadedConfig,
                on_progress: Callable[[Progress], None] = lambda _p: None) -> dict[str, Any]:
    effective, overrides = effective_for(ctx, config)
    run = run_paths(ctx, config.path)
    if ctx.force and run.run_dir.exists():
        # From scratch: its checkpoints would otherwise be "resumed" by Axolotl's auto-resume.
        shutil.rmtree(run.run_dir)
    try:
        record = train(run, effective, config.sha256, ctx.wandb_mode, on_progress,
                       notes=[f"override {line}" for line in overrides], time_limit=ctx.settings.train_timeout_s)
    except TrainingError as exc:
        raise StageError(f"{exc}\n    full log: {run.log}") from None
    return {**record, "overrides": overrides, "run_dir": str(run.run_dir)}


def write_report(outcomes: list[Outcome], path: Path) -> None:
    write_atomic(path, json.dumps({"finished": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                                   "configs": [asdict(o) for o in outcomes]}, indent=2))


# What a long stage says it is doing now ("training step 3/10 ...", "eval 12/165 cells ..."), for a status line.
Status = Callable[[str], None]
StageFn = Callable[[RunContext, LoadedConfig, Outcome, Status], None]


def run_one(ctx: RunContext, path: Path, later_stages: list[tuple[str, StageFn]], on_status: Status) -> Outcome:
    """Every stage of one config; the first failure ends this config, never the run."""
    outcome = Outcome(basename_of(path))
    stage = "validate"
    try:
        config = stage_validate(ctx, path)
        outcome.stages["validate"] = "ok"
        stage = "train"
        record = stage_train(ctx, config, lambda progress: on_status(f"training  {progress.describe()}"))
        outcome.stages["train"] = "skipped" if record["skipped"] else "trained"
        losses = record.get("losses") or []
        outcome.details["overrides"] = record["overrides"]
        outcome.details.update(loss_first=losses[0] if losses else None, loss_last=losses[-1] if losses else None,
                               steps=record.get("steps"), train_seconds=record.get("seconds"),
                               run_dir=record["run_dir"])
        for name, stage_fn in later_stages:
            stage = name
            on_status(name)
            stage_fn(ctx, config, outcome, on_status)
    except StageError as exc:
        outcome.stages[stage] = "failed"
        outcome.error = str(exc)
    except TrainingInterrupted as exc:
        # The run was asked to stop: the outcome keeps every stage that ran, and the caller stops the run.
        outcome.stages[stage] = "interrupted"
        outcome.error = str(exc)
        outcome.interrupted = True
    except Exception as exc:  # a bug or an outage in one config's run must not stop the others
        outcome.stages[stage] = "failed"
        outcome.error = f"{type(exc).__name__}: {exc}"
    return outcome


def outcome_table(outcomes: list[Outcome]) -> list[list[str]]:
    """Rows for the terminal table and the job summary: one per config, a column per stage."""
    rows = []
    for outcome in outcomes:
        loss = ""
        if outcome.details.get("loss_first") is not None:
            loss = f"{outcome.details['loss_first']:.3f} -> {outcome.details['loss_last']:.3f}"
        first_error_line = outcome.error.strip().splitlines()[0] if outcome.error else ""
        rows.append([outcome.config, *(outcome.stages[s] for s in STAGES), loss, first_error_line])
    return rows


TABLE_HEADER = ["config", *STAGES, "loss first -> last", "error"]


def sample_table(samples: list[dict[str, Any]]) -> tuple[list[str], list[list[str]]]:
    """Header and rows of the sample completions; base model beside fine-tuned when the run made both."""
    if all("base_completion" in s for s in samples):
        return (["prompt", "temperature", "base model", "fine-tuned"],
                [[s["prompt"], str(s["temperature"]), s["base_completion"], s["completion"]] for s in samples])
    return ["prompt", "temperature", "completion"], [[s["prompt"], str(s["temperature"]), s["completion"]]
                                                     for s in samples]


def markdown_summary(outcomes: list[Outcome]) -> str:
    """The job summary GitHub Actions shows for the run."""
    lines = ["| " + " | ".join(TABLE_HEADER) + " |", "|" + "---|" * len(TABLE_HEADER)]
    lines += ["| " + " | ".join(_cell(cell) for cell in row) + " |" for row in outcome_table(outcomes)]
    for outcome in outcomes:
        if samples := outcome.details.get("samples"):
            header, rows = sample_table(samples)
            lines += ["", f"**{outcome.config}**: sample completions (seed 1)", "",
                      "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
            lines += ["| " + " | ".join(_cell(cell) for cell in row) + " |" for row in rows]
        if outcome.error:
            lines += ["", f"<details><summary>{outcome.config} failed</summary>", "", "```",
                      outcome.error, "```", "</details>"]
    return "\n".join(lines) + "\n"


def _cell(text: str) -> str:
    """Text safe inside a markdown table cell."""
    return text.replace("|", "\\|").replace("\n", " ")


def _dataset_files(ctx: RunContext, config: LoadedConfig) -> list[DatasetFile]:
    files = []
    for dataset in config.data.get("datasets") or []:
        path = dataset_file(str(dataset.get("path")), ctx.settings)
        if path is not None and path.is_file():
            files.append(DatasetFile(str(path.relative_to(ctx.settings.root.resolve())), row_count(path)))
    return files


def _wandb_run(ctx: RunContext, run: RunPaths) -> WandbRun | None:
    if ctx.wandb_mode == "disabled":
        return None
    recorded = offline_runs(run.run_dir)
    run_id = recorded[-1].run_id if recorded else ""
    return WandbRun(ctx.settings.wandb_project, run.basename, ctx.settings.wandb_entity, run_id)


def stage_publish(ctx: RunContext, config: LoadedConfig, outcome: Outcome, on_status: Status) -> None:
    """Push the adapter and its model card to `<org>/<basename>`; a push of the same config hash is skipped."""
    from pipeline.publish.hub import PublishError, publish  # huggingface_hub: only when publishing

    run = run_paths(ctx, config.path)
    effective = yaml.safe_load(run.config.read_text())
    repo_id = f"{ctx.settings.hub_org}/{run.basename}"
    server, repository = os.environ.get("GITHUB_SERVER_URL"), os.environ.get("GITHUB_REPOSITORY")
    card = render_card(CardInputs(
        repo_id=repo_id, basename=run.basename, base_model=str(effective.get("base_model")),
        config_sha256=config.sha256, effective_config=effective, datasets=_dataset_files(ctx, config),
        wandb=_wandb_run(ctx, run), source_repo_url=f"{server}/{repository}" if server and repository else "",
    ))
    try:
        result = publish(run.adapter_dir, run.basename, card, config.sha256, ctx.hub, ctx.settings.hub_org,
                         ctx.settings.hub_private, force=ctx.force)
    except PublishError as exc:
        raise StageError(str(exc)) from None
    outcome.stages["publish"] = "skipped" if result.skipped else "published"
    outcome.details.update(hub_repo=result.repo_id, hub_revision=result.revision, hub_url=result.url)


def _already_evaluated(results_path: Path, config_sha256: str) -> bool:
    try:
        meta = load_results(results_path).meta
    except (OSError, ResultsError):
        return False
    return meta is not None and meta.config_sha256 == config_sha256 and bool(meta.finished)


def _samples(results_path: Path, spec: EvalSpec, base: Mapping[Cell, str] | None = None) -> list[dict[str, Any]]:
    """The sample cells' completions for the closing table, with the base model's beside them when given."""
    doc = load_results(results_path)
    samples = []
    for cell in sample_cells(spec):
        setting = doc.results[cell.prompt].settingsResults[cell.setting]
        sample = {"prompt": doc.results[cell.prompt].prompt, "temperature": setting.temperature,
                  "completion": setting.completions[cell.seed - 1] if setting.completions else ""}
        if base is not None:
            sample["base_completion"] = base[cell]
        samples.append(sample)
    return samples


def stage_evaluate(ctx: RunContext, config: LoadedConfig, outcome: Outcome, on_status: Status) -> None:
    """Run the eval sweep into `<results_dir>/<basename>.json`; skipped when done for this config hash."""
    run = run_paths(ctx, config.path)
    log = run.run_dir / "eval.log"
    import_training_stack(log)
    from pipeline.evaluate.before_after import base_completions
    from pipeline.evaluate.sweep import EvalError, evaluate

    results_path = ctx.results_dir / f"{run.basename}.json"
    outcome.details["results"] = str(results_path)
    spec = load_eval(ctx.settings.eval_file)
    if not ctx.force and _already_evaluated(results_path, config.sha256):
        outcome.stages["evaluate"] = "skipped"
        outcome.details["samples"] = _samples(results_path, spec)
        return
    try:
        effective = yaml.safe_load(run.config.read_text())
        wandb_run = _wandb_run(ctx, run)
        report = evaluate(
            config.path, run.adapter_dir, str(effective["base_model"]), results_path, spec,
            hub_repo=outcome.details.get("hub_repo"), hub_revision=outcome.details.get("hub_revision"),
            wandb_run=f"{wandb_run.project}/{wandb_run.name}" if wandb_run else None,
            adapter_source=outcome.details.get("hub_url"), on_progress=lambda p: on_status(p.describe()),
            time_limit=ctx.settings.eval_timeout_s,
        )
        on_status("base model: the same sample prompts without the adapter")
        base = base_completions(config.path, str(effective["base_model"]), spec, sample_cells(spec), log)
    except (EvalError, ValueError) as exc:
        raise StageError(str(exc)) from None
    outcome.stages["evaluate"] = "evaluated"
    outcome.details.update(eval_seconds=round(report.seconds, 1), cells=report.cells,
                           samples=_samples(results_path, spec, base))
