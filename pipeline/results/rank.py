"""Ranking configs by the judge's rewards: pairwise win rates, and a Bradley-Terry leaderboard with intervals.

Two configs are compared cell by cell: the same prompt, setting and seed of the same sweep spec,
scored by the same judge revision. A cell is a win for the config whose completion the judge
rewards higher (a tie is half a win each). Bradley-Terry strengths are fitted to all pairwise wins
with Hunter's MM updates, with half a virtual win each way per pair so a config that never wins
keeps a finite score; scores are on the Elo scale (400 log10 of the strength, mean 0). The 95 %
interval resamples the cells with replacement (a fixed seed, so the same files give the same table).
Pure: no files, no models.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from pipeline.core.stats import quantile
from pipeline.formats.results import JudgeScores, PairwiseJudgment
from pipeline.judges.pairs import score

CellKey = tuple[int, int, int]  # prompt, setting, seed index
PRIOR_WINS = 0.5
RESAMPLES = 200
MM_ITERATIONS = 500
CONVERGED = 1e-9


@dataclass(frozen=True)
class Contender:
    name: str
    rewards: Mapping[CellKey, float]

    @property
    def mean_reward(self) -> float:
        return sum(self.rewards.values()) / len(self.rewards) if self.rewards else 0.0


def contender(name: str, scores: JudgeScores) -> Contender:
    return Contender(name, {(p, s, k): reward for p, settings in enumerate(scores.rewards)
                            for s, seeds in enumerate(settings) for k, reward in enumerate(seeds)})


def comparable_key(scores: JudgeScores) -> tuple[str, str, str | None]:
    """Scores compare only under the same judge config, revision and sweep spec."""
    return scores.judge.basename, scores.judge.revision, scores.eval_sha256


def largest_group(named: Sequence[tuple[str, JudgeScores]],
                  judge: str | None = None) -> tuple[list[Contender], list[str]]:
    """The biggest set of results scored comparably (by `judge` when given), and the names left out."""
    groups: dict[tuple[str, str, str | None], list[str]] = {}
    for name, scores in named:
        if judge is None or scores.judge.basename == judge:
            groups.setdefault(comparable_key(scores), []).append(name)
    chosen = set(max(groups.values(), key=len, default=[]))
    return ([contender(name, scores) for name, scores in named if name in chosen],
            [name for name, _ in named if name not in chosen])


def shared_cells(contenders: Sequence[Contender]) -> list[CellKey]:
    if not contenders:
        return []
    common = set(contenders[0].rewards)
    for other in contenders[1:]:
        common &= set(other.rewards)
    return sorted(common)


def beats(reward: float, other: float) -> float:
    """One cell's win: 1 when the reward is higher, half for a tie."""
    return 1.0 if reward > other else 0.5 if reward == other else 0.0


def win_share(a: Contender, b: Contender) -> float | None:
    """The share of shared cells where a's completion out-scores b's (ties count half); None with none shared."""
    keys = shared_cells([a, b])
    return sum(beats(a.rewards[k], b.rewards[k]) for k in keys) / len(keys) if keys else None


def win_matrix(contenders: Sequence[Contender], cells: Sequence[CellKey]) -> list[list[float]]:
    """wins[i][j]: cells where i beat j (ties half each)."""
    size = len(contenders)
    wins = [[0.0] * size for _ in range(size)]
    for key in cells:
        scores = [c.rewards[key] for c in contenders]
        for i in range(size):
            for j in range(size):
                if i != j:
                    wins[i][j] += beats(scores[i], scores[j])
    return wins


def bradley_terry(wins: Sequence[Sequence[float]]) -> list[float]:
    """Elo-scale strengths (mean 0) fitted to a win matrix by minorization-maximization."""
    size = len(wins)
    if size == 0:
        return []
    total = [[wins[i][j] + PRIOR_WINS if i != j else 0.0 for j in range(size)] for i in range(size)]
    strength = [1.0] * size
    for _ in range(MM_ITERATIONS):
        updated = []
        for i in range(size):
            won = sum(total[i])
            games = sum((total[i][j] + total[j][i]) / (strength[i] + strength[j]) for j in range(size) if j != i)
            updated.append(won / games if games else 1.0)
        norm = math.exp(sum(math.log(s) for s in updated) / size)
        updated = [s / norm for s in updated]
        converged = max(abs(a - b) for a, b in zip(updated, strength, strict=True)) < CONVERGED
        strength = updated
        if converged:
            break
    return [400 * math.log10(s) for s in strength]


@dataclass(frozen=True)
class Rank:
    name: str
    score: float  # Elo scale, mean 0 over the ranked configs
    low: float  # 95 % bootstrap interval over cells
    high: float
    mean_reward: float
    win_share: float  # against all the others, over every shared cell
    cells: int


def leaderboard(contenders: Sequence[Contender], resamples: int = RESAMPLES, seed: int = 0) -> list[Rank]:
    """Configs ranked by Bradley-Terry score over the cells they all share, best first."""
    cells = shared_cells(contenders)
    if len(contenders) < 2 or not cells:
        return []
    wins = win_matrix(contenders, cells)
    scores = bradley_terry(wins)
    rng = random.Random(seed)
    samples: list[list[float]] = [[] for _ in contenders]
    for _ in range(resamples):
        drawn = [cells[rng.randrange(len(cells))] for _ in cells]
        for index, value in enumerate(bradley_terry(win_matrix(contenders, drawn))):
            samples[index].append(value)
    ranks = []
    games = len(cells) * (len(contenders) - 1)
    for index, who in enumerate(contenders):
        ordered = sorted(samples[index])
        ranks.append(Rank(who.name, scores[index], quantile(ordered, 0.025), quantile(ordered, 0.975),
                          who.mean_reward, sum(wins[index]) / games, len(cells)))
    return sorted(ranks, key=lambda rank: (-rank.score, rank.name))




@dataclass(frozen=True)
class JudgedRank:
    """A config's Bradley-Terry score over an LLM judge's pairwise verdicts (results' `judgments`)."""

    name: str
    score: float  # Elo scale, mean 0 over the ranked configs
    low: float  # 95 % bootstrap interval, resampling each comparison's verdicts
    high: float
    win_share: float  # of all its judged pairs, ties half
    pairs: int


def judged_leaderboard(judgments: Sequence[tuple[str, PairwiseJudgment]], judge: str, resamples: int = RESAMPLES,
                       seed: int = 0) -> list[JudgedRank]:
    """Configs (and base references) ranked by Bradley-Terry over every pair `judge` judged, best first.

    Each verdict is one game: a win for its winner, a tie half a win each way. A config judged only against
    references still gets a place, relative to them.
    """
    games = [(name, j.other, [score(v.winner) for v in j.verdicts]) for name, j in judgments
             if j.judge == judge and j.verdicts]
    names = sorted({who for this, other, _ in games for who in (this, other)})
    if len(names) < 2:
        return []
    index = {name: i for i, name in enumerate(names)}

    def fit(drawn: Sequence[tuple[str, str, Sequence[float]]]) -> list[float]:
        wins = [[0.0] * len(names) for _ in names]
        for this, other, points in drawn:
            wins[index[this]][index[other]] += sum(points)
            wins[index[other]][index[this]] += len(points) - sum(points)
        return bradley_terry(wins)

    scores = fit(games)
    rng = random.Random(seed)
    samples: list[list[float]] = [[] for _ in names]
    for _ in range(resamples):
        drawn = [(this, other, [points[rng.randrange(len(points))] for _ in points]) for this, other, points in games]
        for i, value in enumerate(fit(drawn)):
            samples[i].append(value)
    won = dict.fromkeys(names, 0.0)
    played = dict.fromkeys(names, 0)
    for this, other, points in games:
        won[this] += sum(points)
        won[other] += len(points) - sum(points)
        played[this] += len(points)
        played[other] += len(points)
    ranks = [JudgedRank(name, scores[i], quantile(sorted(samples[i]), 0.025), quantile(sorted(samples[i]), 0.975),
                        won[name] / played[name], played[name]) for i, name in enumerate(names)]
    return sorted(ranks, key=lambda rank: (-rank.score, rank.name))

