"""The stages: validate -> train -> publish -> evaluate, each a `Stage` over one config.

A stage reads what earlier stages left on disk in the config's run folder (the adapter and
complete.json from train, published.json from publish), never from memory, so each stage
command (`haha train`, `haha publish`, `haha evaluate`) runs on its own and gives what
`haha run` gives.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import replace
from pathlib import Path
from typing import Any, Protocol

import yaml

from pipeline.config.effective import ParentModel, RunPlan, effective_config
from pipeline.config.loading import ConfigLoadError, LoadedConfig, load_config
from pipeline.config.policy import check_policy
from pipeline.config.rules import check_haha_rules, dataset_entries, dataset_file, is_hub_dataset
from pipeline.core.errors import StageError
from pipeline.core.files import write_atomic
from pipeline.core.naming import hub_repo_id, name_problem
from pipeline.core.problems import Problem, errors
from pipeline.core.quiet import import_training_stack
from pipeline.core.runs import adapter_problem, adapter_sha256
from pipeline.data.rows import row_count
from pipeline.formats.tracking import WandbMode, WandbRef
from pipeline.models.smoke import SmokeModel
from pipeline.orchestration.context import RunContext
from pipeline.orchestration.outcome import ConfigState, EvalOutcome, StageName, StageResult, StageStatus
from pipeline.orchestration.parents import start_from_parent
from pipeline.orchestration.validation import validate_config
from pipeline.plan.runners import runner_for
from pipeline.publish.hub import PublishResult
from pipeline.publish.modelcard import CardInputs, DatasetFile, render_card
from pipeline.train.axolotl import Launch, TrainingError, train
from pipeline.train.merge import merged_from
from pipeline.train.tracking import Tracking, init_timeout, run_reference, start_tracking, tracking_warnings


class Stage(Protocol):
    name: StageName

    def run(self, ctx: RunContext, state: ConfigState) -> StageResult: ...


# -- validate --------------------------------------------------------------------------------------------------------

class ValidateStage:
    """Full validation, or (`full=False`, for the single-stage commands) the haha and safety rules, plus with
    `schema` Axolotl's own schema (what `haha train` needs so Axolotl's refusal is a message, not its traceback).

    The full check also loads the tokenizer and counts every row's tokens: seconds to minutes that a
    stage command should not add on top of a training run.
    """

    name = StageName.VALIDATE

    def __init__(self, full: bool = True, schema: bool = False) -> None:
        self.full = full
        self.schema = schema

    def run(self, ctx: RunContext, state: ConfigState) -> StageResult:
        path = state.path
        if (bad_name := name_problem(path)) is not None:
            raise StageError(str(Problem(str(path), None, "filename", bad_name)))
        if self.full:
            report = validate_config(path, ctx.settings, count_lengths=not ctx.smoke)
            problems, config = report.problems, report.config
        else:
            try:
                config = load_config(path)
            except ConfigLoadError as exc:
                raise StageError(str(Problem(str(path), exc.line, "yaml", exc.message))) from None
            problems = check_haha_rules(config, ctx.settings, str(path)) + check_policy(config, ctx.settings,
                                                                                          str(path))
            if self.schema:
                from pipeline.config.plugins import plugin_arg_models
                from pipeline.config.schema import check_schema

                problems += check_schema(config, str(path), plugin_arg_models(config.data, ctx.settings))
        if failures := errors(problems):
            raise StageError("\n".join(str(p) for p in failures))
        assert config is not None
        state.config = config
        return StageResult(StageStatus.OK, config)


# -- train -----------------------------------------------------------------------------------------------------------

def smoke_model_for(ctx: RunContext, config: LoadedConfig) -> SmokeModel | None:
    """The model this config's smoke run trains (None for a real run); a twin is built on first use."""
    if ctx.smoke_model is None:
        return None
    from pipeline.models.smoke import choose_smoke_model

    return choose_smoke_model(config.data, ctx.smoke_model, ctx.tiny_model_dir, ctx.settings.data_dir)


def training_base(ctx: RunContext, config: LoadedConfig) -> str:
    """The base model this config's run trains on: its smoke stand-in in smoke runs, else its `base_model`."""
    smoke = smoke_model_for(ctx, config)
    return str(smoke.path) if smoke is not None else str(config.data["base_model"])


def effective_for(ctx: RunContext, state: ConfigState, parent: ParentModel | None,
                  tracking: Tracking) -> tuple[dict[str, Any], list[str]]:
    run = state.run
    plan = RunPlan(run.adapter_dir.resolve(), run.prepared_dir.resolve(), ctx.settings.data_dir.resolve(),
                   tracking.mode, smoke_model_for(ctx, state.loaded), ctx.smoke_steps, parent, tracking.unreachable)
    effective, overrides = effective_config(state.loaded.data, run.basename, ctx.settings, plan)
    return effective, [str(o) for o in overrides]


def launch_for(ctx: RunContext, state: ConfigState) -> Launch:
    """One process on CPU (smoke runs); else the processes and launcher of the config's runner class."""
    if ctx.smoke:
        return Launch()
    runner = runner_for(state.run.basename, state.loaded.data, ctx.settings.runners).runner
    return Launch(runner.launcher if runner.gpus > 1 else None, runner.gpus)


class TrainStage:
    name = StageName.TRAIN

    def run(self, ctx: RunContext, state: ConfigState) -> StageResult:
        parent = start_from_parent(ctx, state, training_base(ctx, state.loaded))
        run = state.run
        tracking = Tracking(ctx.wandb_mode)
        if ctx.wandb_mode is WandbMode.ONLINE and (
                ctx.force or run.trained_from(state.loaded.sha256, ctx.smoke, parent.ref if parent else None) is None):
            # Only a run about to train asks W&B: the answer decides the mode it starts in.
            timeout = init_timeout()
            state.on_status(f"asking W&B whether it answers (up to {timeout:g} s)")
            tracking = start_tracking(ctx.wandb_mode, timeout)
        effective, overrides = effective_for(ctx, state, parent, tracking)
        if ctx.force and run.run_dir.exists():
            # From scratch: its checkpoints would otherwise be "resumed" by Axolotl's auto-resume.
            shutil.rmtree(run.run_dir)
        try:
            result = train(run, effective, state.loaded.sha256, tracking.mode,
                           lambda progress: state.on_status(f"training  {progress.describe()}"),
                           overrides=overrides, time_limit=ctx.settings.train_timeout_s, smoke=ctx.smoke,
                           parent=parent.ref if parent else None, launch=launch_for(ctx, state))
        except TrainingError as exc:
            raise StageError(f"{exc}\n    full log: {run.log}") from None
        retrained = (result.retrained,) if result.retrained else ()
        result = replace(result, warnings=(*retrained, *tracking_warnings(run, ctx.wandb_mode, tracking.unreachable)))
        return StageResult(StageStatus.SKIPPED if result.skipped else StageStatus.TRAINED, result)


def require_trained(ctx: RunContext, state: ConfigState) -> None:
    """The run folder holds this config's adapter, trained the way this command runs (smoke or real)."""
    if state.run.trained(state.loaded.sha256, ctx.smoke) is not None:
        return
    command = f"haha train {state.path}{ctx.flags}"
    other = state.run.trained(state.loaded.sha256, not ctx.smoke)
    if other is not None:
        kind, wanted = ("a smoke run", "a real one") if other.smoke else ("a real run", "a smoke one")
        raise StageError(f"{state.run.basename} in {ctx.workspace} was trained by {kind}, and this is {wanted}: "
                         f"run {command} first, or use another --workspace")
    raise StageError(f"{state.run.basename} is not trained for this config yet (looked in {ctx.workspace}): run "
                     f"{command} first")


def wandb_reference(ctx: RunContext, state: ConfigState) -> WandbRef | None:
    return run_reference(state.run.run_dir, ctx.wandb_mode, ctx.settings.wandb_project, state.run.basename,
                         ctx.settings.wandb_entity)


# -- publish ---------------------------------------------------------------------------------------------------------

def dataset_files(ctx: RunContext, config: LoadedConfig) -> list[DatasetFile]:
    files = []
    for dataset in dataset_entries(config.data):
        if is_hub_dataset(dataset.path, ctx.settings):  # named by id and the commit it is pinned to
            files.append(DatasetFile(f"{dataset.path}@{dataset.entry.get('revision')}", None, on_hub=True))
            continue
        path = dataset_file(dataset.path, ctx.settings) if dataset.path else None
        if path is not None and path.is_file():
            files.append(DatasetFile(str(path.relative_to(ctx.settings.root.resolve())), row_count(path)))
    return files


def card_for(ctx: RunContext, state: ConfigState, repo_id: str) -> str:
    run = state.run
    effective = yaml.safe_load(run.config.read_text())
    record = run.completion()
    parent = record.parent if record is not None else None
    base_model = merged_from(Path(effective["base_model"])) if parent else None
    server, repository = os.environ.get("GITHUB_SERVER_URL"), os.environ.get("GITHUB_REPOSITORY")
    results = ctx.results_path(run.basename)
    shown = results.relative_to(ctx.settings.root) if results.is_relative_to(ctx.settings.root) else results
    return render_card(CardInputs(
        repo_id=repo_id, basename=run.basename, base_model=base_model or str(effective.get("base_model")),
        config_sha256=state.loaded.sha256, effective_config=effective, datasets=dataset_files(ctx, state.loaded),
        wandb=wandb_reference(ctx, state), results_path=str(shown),
        source_repo_url=f"{server}/{repository}" if server and repository else "", parent=parent,
    ))


class PublishStage:
    """Push the adapter and its model card to `<org>/<basename>`; a push of the same config and bytes is skipped."""

    name = StageName.PUBLISH

    def run(self, ctx: RunContext, state: ConfigState) -> StageResult:
        from pipeline.publish.hub import Push, publish

        require_trained(ctx, state)
        settings, run = ctx.settings, state.run
        try:
            repo_id = hub_repo_id(settings.hub_org, run.basename)
        except ValueError as exc:
            raise StageError(str(exc)) from None
        result = publish(Push(run.adapter_dir, settings.hub_org, run.basename, card_for(ctx, state, repo_id),
                              state.loaded.sha256, settings.hub_private, ctx.force), ctx.hub)
        write_atomic(run.published, result.model_dump_json(indent=2))
        return StageResult(StageStatus.SKIPPED if result.skipped else StageStatus.PUBLISHED, result)


# -- evaluate --------------------------------------------------------------------------------------------------------

def published_for(state: ConfigState, adapter_sha256: str) -> PublishResult | None:
    """What the publish stage recorded, when it pushed these exact adapter bytes."""
    try:
        published = PublishResult.model_validate_json(state.run.published.read_bytes())
    except (OSError, ValueError):
        return None
    return published if published.adapter_sha256 == adapter_sha256 else None


class EvaluateStage:
    """Every eval task that applies into `<results_dir>/<basename>.json`; skipped when done for this config hash."""

    name = StageName.EVALUATE

    def run(self, ctx: RunContext, state: ConfigState) -> StageResult:
        from pipeline.orchestration.evaluating import (
            already_evaluated,
            applicable_tasks,
            evaluate_config,
            samples_from,
            sweep_sha256,
        )

        path = ctx.results_path(state.run.basename)
        tasks = applicable_tasks(ctx, state)  # a broken task file stops here, skipped or not
        adapter = ctx.eval.adapter_dir or state.run.adapter_dir
        made_from = adapter_sha256(adapter) if adapter_problem(adapter) is None else None
        if not ctx.force and already_evaluated(path, state.loaded.sha256, sweep_sha256(tasks), made_from):
            return StageResult(StageStatus.SKIPPED, EvalOutcome(path, None, samples_from(ctx, path)))
        import_training_stack(state.run.run_dir / "eval.log" if state.run.run_dir.is_dir() else None)
        return StageResult(StageStatus.EVALUATED, evaluate_config(ctx, state, path, tasks))


class BaseReferenceStage:
    """The sweep on the config's base model without the adapter (`haha evaluate --base`), once per base model,
    eval spec and prompt format: the reference that says what fine-tuning changed."""

    name = StageName.EVALUATE

    def run(self, ctx: RunContext, state: ConfigState) -> StageResult:
        from pipeline.orchestration.evaluating import evaluate_base

        import_training_stack(None)
        ran, outcome = evaluate_base(ctx, state)
        return StageResult(StageStatus.EVALUATED if ran else StageStatus.SKIPPED, outcome)


PIPELINE: tuple[Stage, ...] = (ValidateStage(), TrainStage(), PublishStage(), EvaluateStage())


def single(stage: Stage) -> tuple[Stage, ...]:
    """A stage command's stages: the light validation (with Axolotl's schema before training), then the stage."""
    return ValidateStage(full=False, schema=isinstance(stage, TrainStage)), stage
