"""`haha plan`: the pending configs as the GitHub Actions matrix train.yml fans out over self-hosted runners.

Light, like `haha pending`: the planning job runs on a GitHub-hosted runner without the training stack.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated

import typer

from pipeline.cli.app import app, emit, errors, existing_config, verb
from pipeline.core.errors import UsageError
from pipeline.core.settings import load_settings


@app.command()
@verb
def plan(
    configs: Annotated[list[Path] | None, typer.Argument(
        help="Re-run these configs even though they have results (default: every pending config).")] = None,
    github_output: Annotated[bool, typer.Option(
        "--github-output",
        help="Also append wave0, wave1, wave2 (JSON matrix lists), max_parallel and configs to $GITHUB_OUTPUT for "
             "the wave jobs.")] = False,
) -> None:
    """Print the pending configs as matrix jobs, JSON: {config, path, runner, runs_on, gpus, launcher, after, wave}.

    A config that needs another pending one (its haha_parent, the reward model it learns from by GRPO in
    haha_reward, the reward model its best-of-N scores with) goes in a later wave; train.yml runs the waves in
    turn. The runner comes from the config's haha_runner, else the first [tool.haha.runners] rule it matches, else
    the default class.
    """
    from pipeline.orchestration.planning import in_config_dir, plan_pending

    settings = load_settings()
    forced = []
    for path in configs or []:
        if (own := in_config_dir(existing_config(path), settings)) is None:
            raise UsageError(f"{path}: not a config in {settings.config_dir}; name train/config/<config>.yml")
        forced.append(own)
    made = plan_pending(settings, forced)
    emit(json.dumps(made.model_dump(), indent=2))
    for left in made.deferred:  # on stderr: stdout is the plan, for machines
        errors.print(f"deferred: {left.config}: {left.why}; it stays pending for the next run of the workflow (a "
                     "push to train/ or a manual run)", style="yellow", markup=False)
    if github_output:
        target = os.environ.get("GITHUB_OUTPUT")
        if not target:
            raise UsageError("--github-output: GITHUB_OUTPUT is not set (it is inside a GitHub Actions step)")
        with Path(target).open("a", encoding="utf-8") as out:
            out.writelines(f"{key}={value}\n" for key, value in made.github_outputs().items())
