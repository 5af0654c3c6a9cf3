"""`haha judge` (the judge's scores in every results file) and `haha rank` (its leaderboard)."""

from __future__ import annotations

from collections.abc import Collection

from pipeline.cli.app import app, console, errors, say, verb
from pipeline.cli.options import (
    HubOption,
    ResultsDirOption,
    SmokeModelOption,
    SmokeOption,
    WorkspaceOption,
    context,
    results_folder,
    workspace_held,
)
from pipeline.core.errors import UsageError
from pipeline.core.settings import load_settings
from pipeline.models.smoke import SmokeModelChoice
from pipeline.orchestration.context import RunContext


def run_judge(ctx: RunContext, quiet_when_unready: bool = False, only: Collection[str] | None = None) -> None:
    """`[tool.haha] judge` scores every results file it has not scored; a judge not trained yet is a note after a
    run (the run's own outcome stands), an error for `haha judge`."""
    from pipeline.core.errors import HahaError
    from pipeline.orchestration.judging import judge_results

    if not ctx.settings.judge:
        if not quiet_when_unready:
            raise UsageError("no judge: set [tool.haha] judge to a reward config's basename")
        return
    try:
        with workspace_held(ctx), console.status("judge") as status:
            report = judge_results(ctx, status.update, only)
    except HahaError as exc:
        if not quiet_when_unready:
            raise
        say(f"judge not run: {exc}", "yellow")
        return
    assert report is not None
    judge = f"{report.judge.basename} at {report.judge.revision[:12]}"
    say(f"judge {judge}: scored {len(report.scored)} results files in {report.seconds:.1f}s, "
        f"{len(report.current)} already scored by it")


@app.command()
@verb
def judge(
    smoke: SmokeOption = False,
    smoke_model: SmokeModelOption = SmokeModelChoice.AUTO,
    hub: HubOption = None,
    workspace: WorkspaceOption = None,
) -> None:
    """Score every results file's sweep completions with the judge, a reward config of the repo.

    The judge is the config that `judge` names in pyproject.toml's tool.haha table.

    A file already scored by the judge's current adapter revision is skipped; a new revision scores everything
    again, so scores from different judges are never mixed. haha run does this after its configs.
    """
    run_judge(context(smoke, hub, None, workspace, smoke_model=smoke_model))


@app.command()
@verb
def rank(
    results_dir: ResultsDirOption = None,
) -> None:
    """The judge's leaderboard: configs ranked by Bradley-Terry score over pairwise wins, with 95 % intervals.

    Two configs are compared on the same prompt, setting and seed, scored by the same judge revision (haha judge
    writes the scores). Win share is against all the others; the interval resamples the compared completions.
    """
    from rich.table import Table

    from pipeline.results.rank import largest_group, leaderboard
    from pipeline.results.scan import scan_results

    settings = load_settings()
    folder = results_folder(results_dir)
    scan = scan_results(folder)
    for broken in scan.broken:
        errors.print(f"unreadable, not ranked: {broken}", style="yellow", markup=False)
    named = [(entry.name, entry.doc.judge) for entry in scan.entries if entry.doc.judge is not None]
    contenders, left_out = largest_group(named, settings.judge)
    ranks = leaderboard(contenders)
    if not ranks:
        raise UsageError(f"nothing to rank in {folder}: it needs two or more results files scored by the judge "
                         f"({settings.judge or 'none set in [tool.haha] judge'}); run haha judge first")
    judge = dict(named)[contenders[0].name].judge
    table = Table("rank", "config", "score", "95 % interval", "mean reward", "win share", title=(
        f"judge {judge.basename} at {judge.revision[:12]}, {ranks[0].cells} completions each"))
    table.columns[1].overflow = "fold"  # config names stay whole on an 80-column terminal
    for place, entry in enumerate(ranks, start=1):
        table.add_row(str(place), entry.name, f"{entry.score:+.0f}", f"{entry.low:+.0f} … {entry.high:+.0f}",
                      f"{entry.mean_reward:.3f}", f"{entry.win_share:.0%}")
    console.print(table)
    if left_out:
        console.print(f"not ranked (another judge, revision or sweep spec, or no scores): {', '.join(left_out)}",
                      style="dim", markup=False)
