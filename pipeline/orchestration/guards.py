"""`haha validate`'s checks across files, which no one config's own validation sees: what the results files
claim (results/provenance.py), which eval task files apply to which configs, and `[tool.haha.budgets]`.

Each is a problem at its file, line and key, so a pull request that forges a results file, points a
multiple-choice eval at a reward model or asks for a week of generation fails its check before any GPU time.
Reads train/eval and train/results; the rules themselves are pure and live with what they judge.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from pipeline.config.kinds import find_kind
from pipeline.config.loading import LoadedConfig
from pipeline.core.budgets import DEFAULT_CPUS, Budgets, over_budget
from pipeline.core.naming import basename_of
from pipeline.core.problems import Problem
from pipeline.core.settings import Settings
from pipeline.core.yaml_text import key_lines, line_of
from pipeline.evaluate.tasks import EvalCost, registered, task_files, unsuited
from pipeline.plan.runners import runner_for
from pipeline.results.provenance import results_problems

# The keys that start CPU processes on the runner, each to at most its CPUs (dataset_processes is the old name
# of dataset_num_proc, which Axolotl still reads).
CPU_PROCESS_KEYS = ("dataloader_num_workers", "dataset_num_proc", "dataset_processes")


def guard_problems(configs: Sequence[LoadedConfig], settings: Settings, shown: Callable[[Path], str],
                   check_eval_file: bool = True) -> list[Problem]:
    """Every cross-file problem of the repo, for the configs `haha validate` read."""
    problems = results_problems(settings.results_dir, settings.hub_org, shown(settings.results_dir))
    problems += [problem for config in configs for problem in config_budget_problems(config, settings, shown)]
    if check_eval_file:
        problems += eval_task_problems(configs, settings, shown)
    return problems


def cpu_cap(config: LoadedConfig, settings: Settings) -> tuple[int, str]:
    """The most CPU processes a config may start, and the setting that says so."""
    if settings.budgets.cpu_processes is not None:
        return settings.budgets.cpu_processes, "cpu_processes"
    assignment = runner_for(basename_of(config.path), config.data, settings.runners)
    if assignment.runner.cpus is not None:
        return assignment.runner.cpus, f"cpu_processes, or cpus of [tool.haha.runners.classes.{assignment.name}]"
    return DEFAULT_CPUS, "cpu_processes"


def config_budget_problems(config: LoadedConfig, settings: Settings, shown: Callable[[Path], str]) -> list[Problem]:
    """Worker and process counts over the runner's CPUs. A smoke run overrides them, so only this check shows
    what the GPU run would start."""
    cap, setting = cpu_cap(config, settings)
    problems = []
    for key in CPU_PROCESS_KEYS:
        value = config.data.get(key)
        counted = isinstance(value, int) and not isinstance(value, bool)
        if counted and (message := over_budget(key, value, cap, setting)) is not None:
            problems.append(Problem(shown(config.path), config.line_of(key), key, message))
    return problems


def cost_problems(cost: EvalCost, budgets: Budgets) -> list[tuple[str, str]]:
    """(key, message) for each figure of an eval file over its budget; the key is where the figure is set."""
    checks = (("prompts", "eval cells (prompts x settings x seeds)", cost.cells, budgets.eval_cells, "eval_cells"),
              ("settings", "new tokens (every completion at its max_new_tokens)", cost.new_tokens,
               budgets.eval_new_tokens, "eval_new_tokens"),
              ("n", "best-of-N candidates (cells x n)", cost.candidates, budgets.best_of_n_candidates,
               "best_of_n_candidates"),
              ("items", "multiple-choice items", cost.items, budgets.multiple_choice_items, "multiple_choice_items"))
    return [(key, message) for key, what, figure, cap, setting in checks
            if (message := over_budget(what, figure, cap, setting)) is not None]


def eval_task_problems(configs: Sequence[LoadedConfig], settings: Settings,
                       shown: Callable[[Path], str]) -> list[Problem]:
    """Each task file over budget, and each config a task file applies to but cannot run on (by name)."""
    tasks = registered()
    problems = []
    for path, task, _ in task_files(settings.eval_dir):
        if task is None:
            continue  # validation's task check says why it is unreadable
        display = shown(path)
        lines = key_lines(path.read_text(encoding="utf-8"))
        spec, _ = tasks[task.kind].check(path, display)
        if spec is not None:
            problems += [Problem(display, line_of(lines, key), key, message)
                         for key, message in cost_problems(tasks[task.kind].cost(spec), settings.budgets)]
        for config in configs:
            kind = find_kind(config.data)
            basename = basename_of(config.path)
            if kind is None or not task.applies_to(basename, kind.default_tasks):
                continue
            if (why := unsuited(task, kind)) is not None:
                problems.append(Problem(display, line_of(lines, "configs"), "configs",
                                        f"applies to {basename}: {why}"))
            problems += [Problem(display, line_of(lines, key), key, f"applies to {basename}: {why}")
                         for key, why in (tasks[task.kind].refusals(spec, config.data) if spec is not None else [])]
    return problems
