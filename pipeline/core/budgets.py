"""`[tool.haha.budgets]`: what one config or eval file may ask of the GPU runner, checked before any GPU time.

A merged config runs on the GPU runner with no one watching, and its cost is set by numbers a pull request
writes: an eval of 100,000 prompts x 100 settings x 1,000 seeds passes every other check. `haha validate`
(and so the PR check) refuses a config or eval file over any cap here, with its figures and the setting to
raise; raising one is a reviewed change to pyproject.toml. Every cap is a field of `Budgets`, so a new one is
one field and its check (config/guards.py).

The defaults leave about ten times the repo's largest eval today and stay well inside `eval_timeout_s` on one
GPU: 10,000 cells (a sweep of 100 prompts x 10 settings x 10 seeds), 5 million new tokens (an 8B model
generates some thousands of tokens a second batched on one H100, so about an hour), 10,000 best-of-N
candidates (the reward model scores each), 10,000 multiple-choice items (a full MMLU, 14,042, is a raise).
A config's estimated GPU-hours are capped at 48 (two days of one GPU; the job's own limit is a day, so more
means several resumed jobs). Dataloader workers and dataset processes are CPU processes: at most the CPUs of
the runner class a config trains on when the class declares them (`cpus`), else DEFAULT_CPUS.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

# The CPUs a GPU runner is assumed to have when its class does not say: the smallest box haha is set up on.
DEFAULT_CPUS = 16
SECTION = "[tool.haha.budgets]"


class Budgets(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    eval_cells: int = Field(default=10_000, ge=1, strict=True)  # prompts x settings x seeds, per eval file
    eval_new_tokens: int = Field(default=5_000_000, ge=1, strict=True)  # per eval file, at max_new_tokens
    best_of_n_candidates: int = Field(default=10_000, ge=1, strict=True)  # cells x n, per best-of-N file
    multiple_choice_items: int = Field(default=10_000, ge=1, strict=True)  # per multiple-choice file
    # estimated GPU-hours of one config's training (plan/estimate.py): two days of one GPU, six hours of eight
    gpu_hours: float = Field(default=48, gt=0)
    # dataloader_num_workers and dataset_num_proc; None: the runner class's CPUs, else DEFAULT_CPUS
    cpu_processes: int | None = Field(default=None, ge=1, strict=True)
    # configs one `haha sweep` writes (config/sweep.py): each becomes a GPU job once merged
    sweep_configs: int = Field(default=64, ge=1, strict=True)


def over_budget(what: str, figure: float, cap: float, setting: str) -> str | None:
    """The message for a figure over its cap (it names both and the setting a maintainer raises), or None."""
    if figure <= cap:
        return None
    return f"{what} is {figure:,}, over the budget of {cap:,} ({SECTION} {setting}, raised in a reviewed change)"
