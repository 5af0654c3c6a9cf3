"""`haha plan`: the pending configs as waves of GitHub Actions matrix jobs. Pure: it takes the pending list, what
each config needs and each config's runner, and returns the plan.

A config that needs another (its `haha_parent`, its `haha_reward`, the reward model its best-of-N scores with)
reads that config's results, so it cannot start in the same matrix: it goes one wave later, and train.yml runs the
waves one after another, each job downloading the results the earlier waves made. haha refuses parent
chains, so three waves cover every valid case (a reward model, an SFT config scoring with it, a DPO or GRPO
child of that). A wave holds at most 256 jobs (GitHub's matrix limit). What cannot be planned (over that limit,
in a need loop, deeper than three waves, or needing what was left out) is listed as deferred, with why,
and never holds back the rest: it stays pending for the next run.
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


class Deferred(BaseModel):
    """A pending config this run leaves out, and why; it stays pending for a later run."""

    config: str
    why: str


class Rescore(BaseModel):
    """The job after every wave that scores every results file with the judge's current revision (haha judge):
    a config's own job scores only that config, so a retrained judge would leave the others on its old one."""

    judge: str  # the judge config's basename
    why: str
    runs_on: list[str]  # the judge's runner class, where its adapter loads


class Plan(BaseModel):
    max_parallel: int
    waves: list[list[PlanEntry]]
    deferred: list[Deferred]
    rescore: Rescore | None = None

    @property
    def entries(self) -> list[PlanEntry]:
        return [entry for wave in self.waves for entry in wave]

    def github_outputs(self) -> dict[str, str]:
        """What the planning job hands the wave jobs: one JSON matrix list per wave, and the parallel limit."""
        waves = [*self.waves, *([] for _ in range(MAX_WAVES - len(self.waves)))]
        outputs = {f"wave{n}": json.dumps([entry.model_dump() for entry in wave], separators=(",", ":"))
                   for n, wave in enumerate(waves)}
        rescore = self.rescore.model_dump_json() if self.rescore else ""
        return {**outputs, "max_parallel": str(self.max_parallel), "configs": str(len(self.entries)),
                "rescore": rescore}


def waves_of(names: Sequence[str], needs: Mapping[str, Sequence[str]]) -> dict[str, int]:
    """Each name's wave: 0 without needs among `names`, else one after the latest wave it needs. Names that need
    each other in a loop, or sit deeper than MAX_WAVES in a chain, get none."""
    inside = {name: [needed for needed in needs.get(name, ()) if needed in names and needed != name]
              for name in names}
    looped = {name for name in names if name in needs.get(name, ())}
    wave: dict[str, int] = {}
    for number in range(MAX_WAVES):
        ready = [name for name in names if name not in wave and name not in looped
                 and all(wave.get(needed, MAX_WAVES) < number for needed in inside[name])]
        wave.update(dict.fromkeys(ready, number))
    return wave


def make_plan(pending: Sequence[tuple[str, str, str]], needs: Mapping[str, Sequence[str]],
              runner_of: Callable[[str], Assignment], max_parallel: int,
              max_jobs: int = MAX_MATRIX_JOBS, force: bool = False) -> Plan:
    """`pending` is (basename, repo-relative path, reason) in run order; each wave keeps that order. `force`
    marks every job a re-run. One config that cannot be planned never holds back the others."""
    names = [name for name, _, _ in pending]
    wave_of = waves_of(names, needs)
    waves: list[list[PlanEntry]] = [[] for _ in range(MAX_WAVES)]
    deferred: list[Deferred] = []
    held = set()
    for name, path, reason in pending:
        after = [needed for needed in needs.get(name, ()) if needed in names]
        if name not in wave_of:
            why = (f"its needs ({', '.join(after)}) loop back to it or chain deeper than the {MAX_WAVES} waves a run "
                   "has; haha validate says which")
        elif blocked := [needed for needed in after if needed in held]:
            why = f"it needs {', '.join(blocked)}, which this run leaves out"
        elif len(waves[wave_of[name]]) >= max_jobs:
            why = f"wave {wave_of[name]} holds {max_jobs} jobs, GitHub's matrix limit"
        else:
            assignment = runner_of(name)
            waves[wave_of[name]].append(PlanEntry(
                config=name, path=path, reason=reason, runner=assignment.name, runs_on=assignment.runs_on,
                gpus=assignment.runner.gpus,
                launcher=assignment.runner.launcher if assignment.runner.gpus > 1 else None,
                after=after, wave=wave_of[name], force=force))
            continue
        held.add(name)
        deferred.append(Deferred(config=name, why=why))
    # A wave empties only when everything in it was left out, and then so is every later wave: drop the tail.
    return Plan(max_parallel=max_parallel, waves=[wave for wave in waves if wave], deferred=deferred)
