"""`haha comment-results`: after the commit job lands a run's results, the pull request that merged each config hears
what came of it (gitops/pr_comment.py renders, gitops/github.py posts).

Which pull request: the commit that last added or changed the config file (git, on the branch the run trained),
and the merged pull request GitHub says that commit belongs to. A run can train configs of several pull requests
(pushes queue while a run is busy), and each gets its own comment with only its configs; a config pushed to the
branch without a pull request is left out with a note. Reads train/results and git; talks to GitHub.

Light, like the rest of the commit job: no torch, transformers or Axolotl.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from pipeline.core.git_history import changing_commits
from pipeline.core.settings import Settings, results_path
from pipeline.formats.results import ResultsDoc, ResultsError, load_results
from pipeline.gitops.github import BOT, GitHub, PullRequest
from pipeline.gitops.pr_comment import MARKER, ResultRow, RunSection, comment_body, shown_rates
from pipeline.orchestration.llm_judging import base_reference
from pipeline.results.entries import overall_quality
from pipeline.results.failures import read_failure
from pipeline.results.family import previous_in_family
from pipeline.results.rank import comparable_key, contender, win_share
from pipeline.results.values import format_signal, loss_change

NONE = "—"
Rate = tuple[str, float, tuple[float, float] | None]


def win_rates(doc: ResultsDoc, other_name: str, other: ResultsDoc) -> list[Rate]:
    """Each judge's win rate of `doc`'s completions against `other`'s: the reward judge's over the matched cells both
    were scored on by the same judge revision, and each LLM judge's recorded judgment against `other_name`."""
    rates: list[Rate] = []
    if doc.judge is not None and other.judge is not None and comparable_key(doc.judge) == comparable_key(other.judge):
        share = win_share(contender("this", doc.judge), contender(other_name, other.judge))
        if share is not None:
            rates.append((f"reward judge {doc.judge.judge.basename}", share, None))
    rates += [(judgment.judge, judgment.win_rate, judgment.interval) for judgment in doc.judgments
              if judgment.other == other_name]
    return rates


def _against(name: str, rates: list[Rate]) -> str:
    return f"{name}: {shown_rates(rates)}" if rates else f"{name}: {NONE}"


def result_row(results_dir: Path, basename: str, run_id: str) -> ResultRow:
    """What the results folder says about one config after the run `run_id`."""
    failure = read_failure(results_dir, basename)
    failed = f"failed: {failure.reason}" if failure is not None and failure.last_run == run_id else ""
    try:
        doc = load_results(results_path(results_dir, basename))
    except ResultsError as exc:
        return ResultRow(basename, failed or f"no results: {exc}", NONE, (NONE,) * 4, NONE, NONE)
    status = (f"{failed} (the figures are an earlier run's)" if failed else
              "evaluated" if doc.meta is None or doc.meta.finished else "evaluation incomplete")
    curve = doc.meta.training_loss if doc.meta else None
    figures = overall_quality(doc)
    signals = tuple(format_signal(name, figures[name])
                    for name in ("empty_share", "never_stopped_share", "repeated_share", "distinct_2"))
    previous = previous_in_family(results_dir, basename)
    reference = base_reference(results_dir, doc)
    vs_previous = _against(previous[0], win_rates(doc, *previous)) if previous else f"{NONE} (first of its family)"
    vs_base = NONE
    if reference is not None:
        try:
            vs_base = _against(reference.name, win_rates(doc, reference.name, load_results(reference.path)))
        except ResultsError:
            vs_base = f"{reference.name}: unreadable"
    return ResultRow(basename, status, loss_change(curve.loss if curve else []) or NONE,
                     (signals[0], signals[1], signals[2], signals[3]), vs_previous, vs_base)


def merged_pull(pulls: Sequence[PullRequest], branch: str) -> PullRequest | None:
    """The pull request that merged the commit into `branch`."""
    return next((pull for pull in pulls if pull.merged and pull.base == branch), None)


@dataclass(frozen=True)
class Posted:
    pull: int
    configs: tuple[str, ...]
    comment_id: int
    updated: bool  # an earlier run's comment was updated, rather than a new one made


@dataclass(frozen=True)
class RunInfo:
    run_id: str
    title: str
    url: str


def comment_results(settings: Settings, github: GitHub, configs: Sequence[str], branch: str, run: RunInfo,
                    index_url: str, note: Callable[[str], None] = lambda _text: None,
                    author: str = BOT) -> list[Posted]:
    """Comment on the merged pull request of each config's last change, or update the comment `author` (the job
    token's account) left there in an earlier run; a comment anyone else wrote is never touched."""
    changed = changing_commits(settings.root, settings.config_dir)
    by_pull: dict[int, list[str]] = {}
    for config in configs:
        commit = changed.get(f"{config}.yml")
        if commit is None:
            note(f"{config}: no commit changed train/config/{config}.yml on this branch; nothing to comment on")
            continue
        pull = merged_pull(github.pulls_of_commit(commit), branch)
        if pull is None:
            note(f"{config}: its commit {commit[:12]} came to {branch} without a merged pull request")
            continue
        by_pull.setdefault(pull.number, []).append(config)
    posted = []
    for number, names in by_pull.items():
        section = RunSection(int(run.run_id), run.title, run.url,
                             tuple(result_row(settings.results_dir, name, run.run_id) for name in names))
        ours = [c for c in github.comments(number) if c.author == author and c.body.startswith(MARKER)]
        earlier = ours[0] if ours else None
        body = comment_body(section, index_url, earlier.body if earlier else None)
        if earlier is None:
            comment_id = github.create_comment(number, body)
        else:
            github.update_comment(earlier.id, body)
            comment_id = earlier.id
        posted.append(Posted(number, tuple(names), comment_id, earlier is not None))
    return posted
