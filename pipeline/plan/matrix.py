"""`haha plan`: the pending configs as waves of GitHub Actions matrix jobs. Pure: it takes the pending list, what
each config needs and each config's runner, and returns the plan.

A config that needs another (its `haha_parent`, the reward model its best-of-N scores with) reads that
config's results, so it cannot start in the same matrix: it goes one wave later, and train.yml runs the
waves one after another, each job downloading the results the earlier waves made. haha refuses parent
chains, so three waves cover every case (a reward model, an SFT config scoring with it, a DPO child of
that). A wave holds at most 256 jobs (GitHub's matrix limit); the rest wait for the next run.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence

from pydantic import BaseModel

from pipeline.core.runner_settings import MAX_MATRIX_JOBS, Launcher
from pipeline.plan.runners import Assignment

MAX_WAVES = 3


class PlanEntry(BaseModel):
    """One matrix job: train, publish and evaluate `config` on a runner with `runs_on` labels."""

    config: str  # basename
    path: str  # train/config/<basename>.yml, relative to the repo root
    reason: str  # why it is pending
    runner: str  # the runner class
    runs_on: list[str]
    gpus: int
    launcher: Launcher | None  # None: one process (`--launcher python`)
    after: list[str]  # configs of earlier waves it needs
    wave: int
    force: bool = False  # asked for by name (a re-run): the job retrains even though results exist


class Plan(BaseModel):
    max_parallel: int
    waves: list[list[PlanEntry]]
    deferred: list[str]  # pending configs over a wave's job limit, or needing a config that was deferred

    @property
    def entries(self) -> list[PlanEntry]:
        return [entry for wave in self.waves for entry in wave]

    def github_outputs(self) -> dict[str, str]:
        """What the planning job hands the wave jobs: one JSON matrix list per wave, and the parallel limit."""
        waves = [*self.waves, *([] for _ in range(MAX_WAVES - len(self.waves)))]
        outputs = {f"wave{n}": json.dumps([entry.model_dump() for entry in wave], separators=(",", ":"))
                   for n, wave in enumerate(waves)}
        return {**outputs, "max_parallel": str(self.max_parallel), "configs": str(len(self.entries))}


class PlanError(ValueError):
    """The pending configs cannot be laid out in waves (a need loop, or a chain deeper than the waves)."""


def waves_of(names: Sequence[str], needs: Mapping[str, Sequence[str]]) -> dict[str, int]:
    """Each name's wave: 0 without needs among `names`, else one more than the latest wave it needs."""
    wave: dict[str, int] = {}

    def place(name: str, trail: tuple[str, ...]) -> int:
        if name in trail:
            raise PlanError(f"configs need each other in a loop: {' -> '.join((*trail, name))}")
        if name not in wave:
            inside = [needed for needed in needs.get(name, ()) if needed in names]
            wave[name] = 1 + max((place(needed, (*trail, name)) for needed in inside), default=-1)
        return wave[name]

    for name in names:
        place(name, ())
    return wave


def make_plan(pending: Sequence[tuple[str, str, str]], needs: Mapping[str, Sequence[str]],
              runner_of: Callable[[str], Assignment], max_parallel: int,
              max_jobs: int = MAX_MATRIX_JOBS, force: bool = False) -> Plan:
    """`pending` is (basename, repo-relative path, reason) in run order; each wave keeps that order. `force`
    marks every job a re-run."""
    names = [name for name, _, _ in pending]
    wave_of = waves_of(names, needs)
    if (deepest := max(wave_of.values(), default=0)) >= MAX_WAVES:
        raise PlanError(f"a chain of {deepest + 1} configs each needing the one before; haha runs {MAX_WAVES} waves")
    waves: list[list[PlanEntry]] = [[] for _ in range(max(wave_of.values(), default=-1) + 1)]
    deferred: list[str] = []
    for name, path, reason in pending:
        after = [needed for needed in needs.get(name, ()) if needed in wave_of]
        if len(waves[wave_of[name]]) >= max_jobs or any(needed in deferred for needed in after):
            deferred.append(name)
            continue
        assignment = runner_of(name)
        waves[wave_of[name]].append(PlanEntry(
            config=name, path=path, reason=reason, runner=assignment.name, runs_on=assignment.runs_on,
            gpus=assignment.runner.gpus, launcher=assignment.runner.launcher if assignment.runner.gpus > 1 else None,
            after=after, wave=wave_of[name], force=force))
    # A wave empties only when everything in it was deferred, and then so is every later wave: drop the tail.
    return Plan(max_parallel=max_parallel, waves=[wave for wave in waves if wave], deferred=deferred)
