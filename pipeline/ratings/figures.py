"""What people's votes add up to: a human score per config, pairwise human preference, and how far each machine
judge agrees with people on which config is funnier. Pure: votes in, figures out.

- **Human score**: the mean rating on the 1-3 scale (unfunny 1, somewhat funny 2, funny 3), with a 95 % bootstrap
  interval that resamples prompts (the votes on one setup are not independent), and n, the votes counted.
- **Fewer than MIN_VOTES votes** on a config: no number is shown for it, only how many there are; with a handful
  of votes the interval spans most of the scale, and a bare mean would read as a finding.
- **Pairwise preference**: on the prompts both configs have votes on, the share of prompts whose mean rating is
  higher for the first (ties half), with its interval over prompts.
- **Agreement with a machine judge**: over the configs both people (MIN_VOTES or more) and the judge scored, the
  share of config pairs that both put in the same order (pairs either calls a tie are left out), and Kendall's
  τ-b between the two orders where there are MIN_TAU_CONFIGS or more configs; with fewer, τ is ±1 or 0 by
  construction and says nothing.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import combinations

from pipeline.core.stats import bootstrap_interval
from pipeline.ratings.cells import Vote

MIN_VOTES = 20
MIN_TAU_CONFIGS = 4


@dataclass(frozen=True)
class HumanScore:
    n: int  # votes counted
    prompts: int
    raters: tuple[str, ...]
    mean: float | None  # None below MIN_VOTES
    interval: tuple[float, float] | None


def _by_prompt(votes: Sequence[Vote]) -> dict[str, list[int]]:
    grouped: dict[str, list[int]] = {}
    for vote in votes:
        grouped.setdefault(vote.line.prompt, []).append(int(vote.rating))
    return grouped


def _pooled_mean(groups: list[list[int]]) -> float:
    flat = [rating for group in groups for rating in group]
    return sum(flat) / len(flat)


def human_score(votes: Sequence[Vote]) -> HumanScore:
    """One config's score from its counted votes."""
    raters = tuple(sorted({vote.line.rater for vote in votes}))
    groups = list(_by_prompt(votes).values())
    if len(votes) < MIN_VOTES:
        return HumanScore(len(votes), len(groups), raters, None, None)
    return HumanScore(len(votes), len(groups), raters, _pooled_mean(groups),
                      bootstrap_interval(groups, _pooled_mean))


@dataclass(frozen=True)
class Preference:
    """How often people preferred `first`'s completions to `second`'s, prompt by prompt."""

    first: str
    second: str
    prompts: int  # rated for both
    share: float | None  # None when either config has fewer than MIN_VOTES votes, or no prompt is shared
    interval: tuple[float, float] | None


def _prompt_wins(pairs: list[tuple[float, float]]) -> float:
    return sum(1.0 if a > b else 0.5 if a == b else 0.0 for a, b in pairs) / len(pairs)


def preference(first: str, first_votes: Sequence[Vote], second: str, second_votes: Sequence[Vote]) -> Preference:
    a, b = _by_prompt(first_votes), _by_prompt(second_votes)
    shared = [prompt for prompt in a if prompt in b]
    if len(first_votes) < MIN_VOTES or len(second_votes) < MIN_VOTES or not shared:
        return Preference(first, second, len(shared), None, None)
    pairs = [(sum(a[p]) / len(a[p]), sum(b[p]) / len(b[p])) for p in shared]
    return Preference(first, second, len(shared), _prompt_wins(pairs), bootstrap_interval(pairs, _prompt_wins))


@dataclass(frozen=True)
class Agreement:
    """People's order of configs against one machine judge's."""

    judge: str
    configs: tuple[str, ...]  # scored by both
    pairs: int  # config pairs both put in a strict order
    agreeing: int
    tau: float | None  # Kendall's τ-b; None below MIN_TAU_CONFIGS configs

    @property
    def share(self) -> float | None:
        return self.agreeing / self.pairs if self.pairs else None


def _sign(value: float) -> int:
    return (value > 0) - (value < 0)


def kendall_tau_b(x: Sequence[float], y: Sequence[float]) -> float | None:
    """τ-b of two paired sequences (ties in either lower it towards 0); None when either is all ties."""
    concordant = discordant = ties_x = ties_y = 0
    for i, j in combinations(range(len(x)), 2):
        dx, dy = _sign(x[i] - x[j]), _sign(y[i] - y[j])
        if dx == 0 and dy == 0:
            continue
        if dx == 0:
            ties_x += 1
        elif dy == 0:
            ties_y += 1
        elif dx == dy:
            concordant += 1
        else:
            discordant += 1
    denominator = math.sqrt((concordant + discordant + ties_x) * (concordant + discordant + ties_y))
    return (concordant - discordant) / denominator if denominator else None


def agreement(judge: str, human: Mapping[str, float], machine: Mapping[str, float]) -> Agreement:
    """Agreement on the order of the configs both scored; `human` holds only configs with MIN_VOTES or more."""
    names = tuple(name for name in human if name in machine)
    decisive = [(a, b) for a, b in combinations(names, 2)
                if _sign(human[a] - human[b]) and _sign(machine[a] - machine[b])]
    agreeing = sum(_sign(human[a] - human[b]) == _sign(machine[a] - machine[b]) for a, b in decisive)
    tau = (kendall_tau_b([human[n] for n in names], [machine[n] for n in names])
           if len(names) >= MIN_TAU_CONFIGS else None)
    return Agreement(judge, names, len(decisive), agreeing, tau)
