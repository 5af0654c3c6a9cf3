"""People's ratings in the index: each entry's human score, pairwise human preference, and how far every machine
judge (the reward judge, each LLM judge) orders the configs the way people do. Pure: the scan's entries and
ratings in, figures out (ratings/figures.py computes them; readme.py and page.py write them).

Only votes on completions of the current results count (ratings/cells.py); the rest are listed as not counted
with the reason, the same one `haha validate` gives.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from pipeline.core.markdown import plural
from pipeline.formats.results import PairwiseJudgment
from pipeline.ratings.cells import Standing, Vote, counted_votes, match
from pipeline.ratings.check import RatingsRead, duplicate_problems
from pipeline.ratings.figures import (
    MIN_TAU_CONFIGS,
    MIN_VOTES,
    Agreement,
    HumanScore,
    Preference,
    agreement,
    human_score,
    preference,
)
from pipeline.results.entries import Entry, judge_view
from pipeline.results.rank import judged_leaderboard


@dataclass(frozen=True)
class HumanView:
    scores: dict[str, HumanScore]  # by entry name, entries with at least one counted vote
    preferences: list[Preference]  # every ordered pair of rated entries
    agreements: list[Agreement]  # one per machine judge
    votes: int
    raters: tuple[str, ...]
    not_counted: list[str] = field(default_factory=list)  # `file:line: key: reason`, unreadable lines first


def machine_scores(entries: Sequence[Entry]) -> dict[str, dict[str, float]]:
    """Each machine judge's score per config: the reward judge's mean reward, an LLM judge's Bradley-Terry score."""
    found: dict[str, dict[str, float]] = {}
    if (reward := judge_view(entries)) is not None:
        found[f"reward judge {reward.label}"] = {name: scores.mean_reward for name, scores in reward.scores.items()}
    judgments: list[tuple[str, PairwiseJudgment]] = [(e.name, j) for e in entries for j in e.doc.judgments]
    for judge in sorted({j.judge for _, j in judgments}):
        found[f"LLM judge {judge}"] = {rank.name: rank.score for rank in judged_leaderboard(judgments, judge)}
    return found


def _not_counted(ratings: RatingsRead, entries: Sequence[Entry]) -> list[str]:
    docs = {entry.name: entry.doc for entry in entries}
    reasons = [str(problem) for problem in ratings.problems if problem.severity != "note"]
    reasons += [str(problem) for problem in duplicate_problems(ratings.placed)]
    for item in ratings.placed:
        found = match(item.line, docs)
        if found.standing is not Standing.COUNTED:
            reasons.append(f"{item.file}:{item.number}: {found.reason}")
    return reasons


def human_view(entries: Sequence[Entry], ratings: RatingsRead) -> HumanView | None:
    """The figures, or None when nobody has rated anything (the index then shows no human column)."""
    if not ratings.placed and not ratings.problems:
        return None
    votes = counted_votes(ratings.lines, {entry.name: entry.doc for entry in entries})
    by_config: dict[str, list[Vote]] = {}
    for vote in votes:
        by_config.setdefault(vote.line.config, []).append(vote)
    rated = [entry.name for entry in entries if entry.name in by_config]
    scores = {name: human_score(by_config[name]) for name in rated}
    preferences = [preference(a, by_config[a], b, by_config[b]) for a in rated for b in rated if a != b]
    people = {name: score.mean for name, score in scores.items() if score.mean is not None}
    agreements = [agreement(judge, people, machine) for judge, machine in machine_scores(entries).items()]
    return HumanView(scores, preferences, agreements, len(votes), tuple(sorted({v.line.rater for v in votes})),
                     _not_counted(ratings, entries))


def score_text(score: HumanScore | None) -> str:
    """The human column's cell: `2.31 (2.10 … 2.52), n=45`, or why there is no number."""
    if score is None:
        return "—"
    if score.mean is None or score.interval is None:
        return f"{plural(score.n, 'vote')}: fewer than {MIN_VOTES}, no score yet"
    low, high = score.interval
    return f"{score.mean:.2f} ({low:.2f} … {high:.2f}), n={score.n}"


def preference_text(found: Preference) -> str:
    if found.share is None or found.interval is None:
        return (f"no figure: each needs {MIN_VOTES} votes" if found.prompts else "no prompt rated for both")
    low, high = found.interval
    return f"{found.share:.0%} ({low:.0%} … {high:.0%}) of {found.prompts} prompts"


def agreement_text(found: Agreement) -> str:
    """`2 of 3 config pairs in the same order (67 %); Kendall's τ 0.33 over 4 configs` or why not."""
    configs = len(found.configs)
    if configs < 2:
        return (f"no figure: {configs} config{'' if configs == 1 else 's'} with {MIN_VOTES} or more votes and a score "
                "from this judge; it takes two")
    if found.share is None:
        pairs = "no config pair that both put in a strict order"
    else:
        pairs = f"{found.agreeing} of {found.pairs} config pairs in the same order ({found.share:.0%})"
    if found.tau is not None:
        tau = f"Kendall's τ {found.tau:.2f} over {configs} configs"
    else:
        tau = f"no Kendall's τ: {configs} configs, it needs {MIN_TAU_CONFIGS}"
    return f"{pairs}; {tau}"
