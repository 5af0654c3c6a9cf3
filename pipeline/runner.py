"""`haha run` and the per-stage verbs: validate -> train -> publish -> evaluate for each config.

One failing config never stops the others; every config ends with an outcome saying
what happened at each stage, and the whole run ends with a table and a JSON report.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from pipeline.configs import LoadedConfig
from pipeline.datasets import count_too_long, read_rows
from pipeline.effective import RunPlan, effective_config
from pipeline.naming import basename_of
from pipeline.problems import errors
from pipeline.rules import dataset_file
from pipeline.runs import RunPaths
from pipeline.settings import Settings
from pipeline.training import Progress, TrainingError, train
from pipeline.validation import validate_config

STAGES = ("validate", "train", "publish", "evaluate")


@dataclass(frozen=True)
class RunContext:
    """Everything a run needs besides the config; `smoke` runs live entirely under `scratch/`."""

    settings: Settings
    workspace: Path
    results_dir: Path
    hub: str
    wandb_mode: str
    tiny_model: Path | None = None  # set for smoke runs

    @property
    def smoke(self) -> bool:
        return self.tiny_model is not None


@dataclass
class Outcome:
    config: str
    stages: dict[str, str] = field(default_factory=lambda: dict.fromkeys(STAGES, "-"))
    error: str = ""
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def failed(self) -> bool:
        return bool(self.error)


def make_context(settings: Settings, smoke: bool, hub: str | None, wandb_mode: str,
                 workspace: Path | None = None) -> RunContext:
    if smoke:
        scratch = workspace or settings.root / "scratch"
        return RunContext(settings, scratch / "runs", scratch / "results", hub or f"local:{scratch / 'hub'}",
                          wandb_mode, scratch / "tiny-model")
    base = workspace or Path(os.environ.get("HAHA_WORKSPACE", settings.root / "workspace"))
    return RunContext(settings, base / "runs", settings.results_dir, hub or f"local:{base / 'hub'}", wandb_mode)


def ensure_tiny_model(ctx: RunContext) -> None:
    if ctx.tiny_model is not None and not (ctx.tiny_model / "config.json").is_file():
        from pipeline.tiny_model import build_tiny_model

        build_tiny_model(ctx.tiny_model, ctx.settings.data_dir)


def run_paths(ctx: RunContext, config_path: Path) -> RunPaths:
    return RunPaths(ctx.workspace, basename_of(config_path))


def effective_for(ctx: RunContext, config: LoadedConfig) -> tuple[dict[str, Any], list[str]]:
    run = RunPaths(ctx.workspace, basename_of(config.path))
    plan = RunPlan(run.adapter_dir.resolve(), run.prepared_dir.resolve(), ctx.settings.data_dir.resolve(),
                   ctx.wandb_mode, str(ctx.tiny_model.resolve()) if ctx.tiny_model else None)
    effective, overrides = effective_config(config.data, run.basename, ctx.settings, plan)
    return effective, [str(o) for o in overrides]


def smoke_length_errors(ctx: RunContext, config: LoadedConfig, effective: dict[str, Any]) -> list[str]:
    """With the tiny model's tokenizer at hand, refuse a config whose every row would be dropped."""
    found = []
    for dataset in config.data.get("datasets") or []:
        path = dataset_file(str(dataset.get("path")), ctx.settings)
        if path is None or not path.is_file():
            continue
        rows = [row for _, row in read_rows(path)[0]]
        too_long, _ = count_too_long(effective, dataset, rows)
        if rows and too_long == len(rows):
            found.append(f"all {len(rows)} rows of {path.name} are longer than sequence_len "
                         f"{effective.get('sequence_len')}: Axolotl would drop every row and training would die "
                         "with num_samples=0; raise sequence_len or shorten the rows")
    return found


def stage_validate(ctx: RunContext, path: Path) -> LoadedConfig:
    report = validate_config(path, ctx.settings, count_lengths=not ctx.smoke)
    if failures := errors(report.problems):
        raise StageError("\n".join(str(p) for p in failures))
    assert report.config is not None
    return report.config


def stage_train(ctx: RunContext, config: LoadedConfig,
                on_progress: Callable[[Progress], None] = lambda _p: None) -> dict[str, Any]:
    effective, overrides = effective_for(ctx, config)
    run = RunPaths(ctx.workspace, basename_of(config.path))
    if ctx.smoke and not run.is_trained(config.sha256):
        ensure_tiny_model(ctx)
        if problems := smoke_length_errors(ctx, config, effective):
            raise StageError("\n".join(problems))
    try:
        record = train(run, effective, config.sha256, ctx.wandb_mode, on_progress)
    except TrainingError as exc:
        raise StageError(f"{exc}\n    full log: {run.log}") from None
    return {**record, "overrides": overrides, "run_dir": str(run.run_dir)}


class StageError(Exception):
    """A stage failed for this config; the message is for the person who wrote the config."""


def write_report(outcomes: list[Outcome], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"finished": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                               "configs": [asdict(o) for o in outcomes]}, indent=2))
    os.replace(tmp, path)


StageFn = Callable[[RunContext, LoadedConfig, Outcome], None]


def run_one(ctx: RunContext, path: Path, later_stages: list[tuple[str, StageFn]],
            on_progress: Callable[[Progress], None]) -> Outcome:
    """Every stage of one config; the first failure ends this config, never the run."""
    outcome = Outcome(basename_of(path))
    stage = "validate"
    try:
        config = stage_validate(ctx, path)
        outcome.stages["validate"] = "ok"
        stage = "train"
        record = stage_train(ctx, config, on_progress)
        outcome.stages["train"] = "skipped" if record["skipped"] else "trained"
        losses = record.get("losses") or []
        outcome.details.update(loss_first=losses[0] if losses else None, loss_last=losses[-1] if losses else None,
                               steps=record.get("steps"), train_seconds=record.get("seconds"),
                               run_dir=record["run_dir"])
        for name, stage_fn in later_stages:
            stage = name
            stage_fn(ctx, config, outcome)
    except StageError as exc:
        outcome.stages[stage] = "failed"
        outcome.error = str(exc)
    except Exception as exc:  # a bug or an outage in one config's run must not stop the others
        outcome.stages[stage] = "failed"
        outcome.error = f"{type(exc).__name__}: {exc}"
    return outcome
