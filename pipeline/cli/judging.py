"""`haha judge` (the reward judge's scores, an LLM judge's pairwise verdicts) and `haha rank` (their leaderboards)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.progress import Progress, TimeElapsedColumn
from rich.table import Table

from pipeline import api
from pipeline.cli.app import app, console, errors, say, verb
from pipeline.cli.options import (
    HubOption,
    ResultsDirOption,
    SmokeModelOption,
    SmokeOption,
    WorkspaceOption,
    results_folder,
    run_options,
)
from pipeline.cli.render import ConsoleListener, judge_line
from pipeline.core.errors import UsageError
from pipeline.core.judge_settings import RewardJudgeSettings
from pipeline.core.settings import load_settings
from pipeline.judges.run import JudgingOutcome
from pipeline.models.smoke import SmokeModelChoice
from pipeline.results.entries import Scan
from pipeline.results.rank import judged_leaderboard, largest_group, leaderboard
from pipeline.results.scan import scan_results


@app.command()
@verb
def judge(
    configs: Annotated[list[str] | None, typer.Argument(
        help="CONFIG OTHER: judge CONFIG's completions against OTHER's (basenames in the results folder).")] = None,
    judge_name: Annotated[str | None, typer.Option(
        "--judge", help="A judge of [tool.haha.judges]: an LLM judge compares configs pairwise; without it, the "
                        "reward judge scores every completion.")] = None,
    results_dir: ResultsDirOption = None,
    smoke: SmokeOption = False,
    smoke_model: SmokeModelOption = SmokeModelChoice.AUTO,
    hub: HubOption = None,
    workspace: WorkspaceOption = None,
) -> None:
    """Judge the results: the reward judge scores every completion, an LLM judge compares configs pairwise.

    Reward judge (tool.haha `judge`, a reward config): a file already scored by its current adapter revision is
    skipped; a new revision scores everything again. haha run does this after its configs.

    LLM judge (`--judge NAME`, kind "llm"): each config against the previous config of its family and its base
    reference, or CONFIG against OTHER; every matched completion pair is asked in both orders. Answers are cached
    under train/results/judgments/NAME, so a second run asks nothing and an interrupted one resumes.
    """
    settings = load_settings()
    chosen = settings.judges.get(judge_name) if judge_name else None
    if configs and len(configs) != 2:
        raise UsageError("name two configs, CONFIG OTHER, or none to judge every results file")
    if (judge_name is None and not configs) or isinstance(chosen, RewardJudgeSettings):
        with ConsoleListener() as listener:
            report = api.judge(run_options(smoke=smoke, smoke_model=smoke_model, hub=hub, workspace=workspace),
                               listener)
        say(judge_line(report))
        return
    with Progress(*Progress.get_default_columns(), TimeElapsedColumn(), console=errors, transient=True) as bar:
        task = bar.add_task("judging", total=None)
        outcome = api.judge_pairwise(judge_name, results_folder(results_dir), configs[:1] if configs else None,
                                     configs[1] if configs else None,
                                     on_progress=lambda done, total: bar.update(task, completed=done, total=total))
    show_judgments(outcome)


def show_judgments(outcome: JudgingOutcome) -> None:
    """The win-rate table, then what stopped the run and what failed; exit 1 when a question failed."""
    table = Table("config vs other", "win rate (95 %)", "n: W / L / T", "first shown", "length",
                  title="LLM judge: each pair asked in both orders; a split is a tie")
    table.columns[0].overflow = "fold"  # names fold; the figures stay whole on an 80-column terminal
    for figures in table.columns[1:]:
        figures.no_wrap = True
    for comparison, judged in outcome.judgments:
        low, high = judged.interval
        first = "—" if judged.first_position_share is None else f"{judged.first_position_share:.0%}"
        table.add_row(f"{comparison.this} vs {comparison.other}", f"{judged.win_rate:.0%} ({low:.0%} … {high:.0%})",
                      f"{judged.n}: {judged.wins} / {judged.losses} / {judged.ties}", first,
                      f"{judged.mean_length:.0f} / {judged.other_mean_length:.0f}")
    if outcome.judgments:
        console.print(table)
    unreadable = sum(judged.unreadable for _, judged in outcome.judgments)
    if unreadable:
        say(f"{unreadable} answers had no verdict the reader could find (each makes its pair a tie): a judge this weak "
            "says little", "yellow")
    say(f"{outcome.asked} questions asked, {outcome.reused} answered from the cache")
    for comparison, missing in outcome.incomplete:
        say(f"{comparison.this} vs {comparison.other}: not recorded, {missing} pairs lack an answer", "yellow")
    if outcome.stopped:
        say(f"stopped: {outcome.stopped}; {outcome.remaining} questions remain (haha judge again continues)",
            "yellow")
    for failure in outcome.failures[:5]:
        errors.print(failure, style="red", markup=False)
    if len(outcome.failures) > 5:
        errors.print(f"… and {len(outcome.failures) - 5} more failed questions", style="red")
    if outcome.failures:
        raise typer.Exit(1)


@app.command()
@verb
def rank(
    results_dir: ResultsDirOption = None,
    judge_name: Annotated[str | None, typer.Option(
        "--judge", help="Rank by an LLM judge's pairwise verdicts (haha judge --judge NAME writes them).")] = None,
) -> None:
    """The judge's leaderboard: configs ranked by Bradley-Terry score over pairwise wins, with 95 % intervals.

    Reward judge: two configs are compared on the same prompt, setting and seed, scored by the same judge revision
    (haha judge writes the scores); the interval resamples the compared completions. LLM judge (--judge NAME):
    every verdict it gave is a game; the interval resamples each comparison's verdicts.
    """
    settings = load_settings()
    folder = results_folder(results_dir)
    scan = scan_results(folder)
    for broken in scan.broken:
        errors.print(f"unreadable, not ranked: {broken}", style="yellow", markup=False)
    if judge_name is not None and not isinstance(settings.judges.get(judge_name), RewardJudgeSettings):
        rank_by_llm(scan, judge_name, folder)
        return
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


def rank_by_llm(scan: Scan, judge_name: str, folder: Path) -> None:
    judged = [(entry.name, judgment) for entry in scan.entries for judgment in entry.doc.judgments]
    ranks = judged_leaderboard(judged, judge_name)
    if not ranks:
        raise UsageError(f"nothing to rank in {folder}: no two configs judged by {judge_name}; run haha judge "
                         f"--judge {judge_name} first")
    table = Table("rank", "config", "score", "95 % interval", "win share", "pairs judged",
                  title=f"LLM judge {judge_name}: Bradley-Terry over its pairwise verdicts (ties half)")
    table.columns[1].overflow = "fold"
    for place, entry in enumerate(ranks, start=1):
        table.add_row(str(place), entry.name, f"{entry.score:+.0f}", f"{entry.low:+.0f} … {entry.high:+.0f}",
                      f"{entry.win_share:.0%}", str(entry.pairs))
    console.print(table)
