"""`haha plan` over the repo as it is: the pending configs (results/pending.py), what each needs
(orchestration/needs.py) and its runner (plan/runners.py), laid out in waves by plan/matrix.py.

Light: it imports no torch, transformers or Axolotl, so the planning job runs on a GitHub-hosted runner
with only pyyaml, pydantic, typer and rich installed.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from pipeline.config.lineage import needs_first
from pipeline.config.loading import ConfigLoadError, load_config
from pipeline.config.sizing import does_not_fit, size_config
from pipeline.core.naming import basename_of, discover, is_basename
from pipeline.core.settings import Settings
from pipeline.formats.results import ResultsError, load_results
from pipeline.orchestration.needs import needs_of
from pipeline.plan.matrix import Deferred, Plan, Rescore, make_plan
from pipeline.plan.runners import Assignment, runner_for
from pipeline.results.pending import Pending, pending
from pipeline.results.scan import results_files


def in_config_dir(path: Path, settings: Settings) -> Path | None:
    """`path` as the config of train/config it names, or None when it names a file anywhere else."""
    own = settings.config_dir / path.name
    return own if path.absolute() == own.absolute() and own.is_file() else None


def _too_big(path: Path, settings: Settings) -> str | None:
    """Why a config's estimate exceeds its runner class (sized by its model's name: the planning job has no Hub
    client), or None."""
    try:
        data = load_config(path).data
    except (ConfigLoadError, OSError, UnicodeDecodeError):
        return None  # its job's validation says why
    return does_not_fit(size_config(basename_of(path), data, settings, read_files=False))


def plan_pending(settings: Settings, forced: Sequence[Path] = ()) -> Plan:
    """Every pending config as a matrix job, in waves; or, when `forced` names configs, those as re-runs.

    Paths are the configs' own in train/config, never what a symlink points at: the job runs what the PR checked.
    """
    needs = needs_of(settings.eval_dir)
    if forced:
        found = [Pending(path, "asked for: a re-run") for path in needs_first(list(forced), needs)]
    else:
        found = pending(discover(settings.config_dir), settings.results_dir, needs)
    misnamed = [item for item in found if not is_basename(basename_of(item.path))]
    found = [item for item in found if item not in misnamed]
    too_big = {item.path: why for item in found if (why := _too_big(item.path, settings)) is not None}
    found = [item for item in found if item.path not in too_big]
    paths = {basename_of(item.path): item.path for item in found}

    def runner_of(name: str) -> Assignment:
        try:
            data = load_config(paths[name]).data
        except (ConfigLoadError, OSError, UnicodeDecodeError):
            data = {}  # validation refuses it in its job; the default runner is as good as any to say so
        return runner_for(name, data, settings.runners)

    folder = settings.config_dir.relative_to(settings.root)
    rows = [(basename_of(item.path), str(folder / item.path.name), item.reason) for item in found]
    made = make_plan(rows, {name: needs(path) for name, path in paths.items()}, runner_of,
                     settings.runners.max_parallel, force=bool(forced))
    left_out = [Deferred(config=item.path.name, why="its file name is not <family>-NNN.yml; haha validate says why")
                for item in misnamed]
    left_out += [Deferred(config=path.name, why=f"fits no GPU it is planned onto: {why}") for path, why in
                 too_big.items()]
    return made.model_copy(update={"deferred": [*made.deferred, *left_out],
                                   "rescore": rescore_job(settings, [entry.config for entry in made.entries])})


def stale_scores(settings: Settings, revision: str) -> list[str]:
    """The results files (configs' and base references') with completions that the judge at `revision` has not
    scored: never scored, or scored by another revision."""
    configs, references = results_files(settings.results_dir)
    stale = []
    for path in [*configs, *references]:
        try:
            doc = load_results(path)
        except ResultsError:
            continue  # the index lists it as unreadable; no judge can score it
        if doc.results and (doc.judge is None or doc.judge.judge.revision != revision):
            stale.append(path.stem if path in configs else f"{path.parent.name}/{path.stem}")
    return stale


def rescore_job(settings: Settings, planned: Sequence[str]) -> Rescore | None:
    """The rescoring job this run needs, or None: when the judge trains in this run (its new revision scores
    nothing but its own wave's later configs otherwise), or when results files carry another revision's scores
    (a rescoring that failed). A judge with no results of its own has nothing to score with yet."""
    judge = settings.judge
    if not judge:
        return None
    if judge in planned:
        why = f"the judge {judge} trains in this run: its new revision scores every results file"
    else:
        try:
            meta = load_results(settings.results_file(judge)).meta
        except ResultsError:
            return None
        if meta is None or not meta.hub_revision:
            return None
        if not (stale := stale_scores(settings, meta.hub_revision)):
            return None
        shown = ", ".join(stale[:5]) + (f" and {len(stale) - 5} more" if len(stale) > 5 else "")
        why = f"{shown} not scored by the judge {judge} at its current revision {meta.hub_revision[:12]}"
    try:
        data = load_config(settings.config_dir / f"{judge}.yml").data
    except (ConfigLoadError, OSError, UnicodeDecodeError):
        data = {}  # validation refuses a judge that is no reward config; the default runner says so as well
    return Rescore(judge=judge, why=why, runs_on=runner_for(judge, data, settings.runners).runs_on)
