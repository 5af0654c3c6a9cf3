"""The train stage: the effective config Axolotl runs (smoke stand-in, parent adapter, GRPO's reward model, W&B
mode), and the run."""

from __future__ import annotations

import shutil
from dataclasses import replace
from typing import Any

from pipeline.config.effective import ParentModel, RewardModel, RunPlan, effective_config
from pipeline.core.errors import StageError
from pipeline.core.files import write_atomic
from pipeline.data.images import localize_images
from pipeline.formats.tracking import WandbMode
from pipeline.models.vision_twin import is_vision_config
from pipeline.orchestration.context import RunContext
from pipeline.orchestration.outcome import StageName, StageResult, StageStatus
from pipeline.orchestration.parents import reward_model_for, reward_ref_for, start_from_parent
from pipeline.orchestration.state import ConfigState, Step
from pipeline.plan.runners import runner_for
from pipeline.train.axolotl import Launch, Progress, TrainingError, train
from pipeline.train.tracking import Tracking, init_timeout, start_tracking, tracking_warnings


def effective_for(ctx: RunContext, state: ConfigState, parent: ParentModel | None, tracking: Tracking,
                  reward: RewardModel | None = None) -> tuple[dict[str, Any], list[str]]:
    run = state.run
    plan = RunPlan(run.adapter_dir.resolve(), run.prepared_dir.resolve(), ctx.settings.data_dir.resolve(),
                   tracking.mode, ctx.smoke_model_for(state.loaded), ctx.smoke_steps, parent, tracking.unreachable,
                   reward)
    effective, overrides = effective_config(state.loaded.data, run.basename, ctx.settings, plan)
    if is_vision_config(effective):
        overrides += localize_images(effective, plan.data_dir, plan.prepared_dir)
    return effective, [str(o) for o in overrides]


def launch_for(ctx: RunContext, state: ConfigState) -> Launch:
    """One process on CPU (smoke runs); else the processes and launcher of the config's runner class."""
    if ctx.smoke:
        return Launch()
    runner = runner_for(state.run.basename, state.loaded.data, ctx.settings.runners).runner
    return Launch(runner.launcher if runner.gpus > 1 else None, runner.gpus)


def training_step(progress: Progress) -> Step:
    """Axolotl's progress as a counted step: optimizer steps, with the latest loss (and GRPO's mean reward)."""
    reward = progress.rewards[-1] if progress.rewards else None
    shown = f"loss {progress.losses[-1]:.3f}" if progress.losses else ""
    return Step("training", progress.step, progress.total, shown + (f", reward {reward:.3f}" if reward is not None
                                                                    else ""))


class TrainStage:
    name = StageName.TRAIN

    def run(self, ctx: RunContext, state: ConfigState) -> StageResult:
        parent = start_from_parent(ctx, state, ctx.training_base(state.loaded))
        run = state.run
        record = run.trained_from(state.loaded.sha256, ctx.smoke, parent.ref if parent else None)
        reward_ref = reward_ref_for(ctx, state)
        # A reward model that published another revision trains the GRPO config again, against the new one.
        trained = record is not None and record.reward_model == reward_ref
        reward = reward_model_for(ctx, state, reward_ref, trained and not ctx.force) if reward_ref else None
        tracking = Tracking(ctx.wandb_mode)
        if ctx.wandb_mode is WandbMode.ONLINE and (ctx.force or not trained):
            # Only a run about to train asks W&B: the answer decides the mode it starts in.
            timeout = init_timeout()
            state.on_status(Step(f"asking W&B whether it answers (up to {timeout:g} s)"))
            tracking = start_tracking(ctx.wandb_mode, timeout)
        effective, overrides = effective_for(ctx, state, parent, tracking, reward)
        if ctx.force and run.run_dir.exists():
            # From scratch: its checkpoints would otherwise be "resumed" by Axolotl's auto-resume.
            shutil.rmtree(run.run_dir)
        state.on_status(Step("training"))
        try:
            result = train(run, effective, state.loaded.sha256, tracking.mode,
                           lambda progress: state.on_status(training_step(progress)),
                           overrides=overrides, time_limit=ctx.settings.train_timeout_s, smoke=ctx.smoke,
                           parent=parent.ref if parent else None, launch=launch_for(ctx, state),
                           reward_model=reward.ref if reward else None)
        except TrainingError as exc:
            raise StageError(f"{exc}\n    full log: {run.log}") from None
        write_atomic(run.overrides, "".join(f"{line}\n" for line in overrides))
        retrained = (result.retrained,) if result.retrained else ()
        result = replace(result, warnings=(*retrained, *tracking_warnings(run, ctx.wandb_mode, tracking.unreachable)))
        return StageResult(StageStatus.SKIPPED if result.skipped else StageStatus.TRAINED, result)
