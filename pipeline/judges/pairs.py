"""Which completions an LLM judge compares, and what its answers add up to. Pure: no files, no calls.

Two configs are compared cell by cell over their sweeps: the same prompt, the same generation setting and the same
seed, so the only difference between the two punchlines is the fine-tune. Each pair is judged in both orders;
the pair is won only when both orders pick the same side (MT-Bench's pairwise rule), and a split, a tie or an
unreadable answer makes it a tie. The win rate is (wins + ties/2) / n, its interval resamples prompts (the cells
of one prompt are not independent), and the figures that expose a judge's biases are reported beside it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pipeline.core.stats import bootstrap_interval
from pipeline.formats.results import PairVerdict, ResultsDoc, Winner, setting_key
from pipeline.judges.prompt import Answer, Verdict

IDENTICAL = "identical completions: a tie without asking"


@dataclass(frozen=True)
class MatchedPair:
    """The two configs' completions for one cell, with each one's reward when the reward judge scored both."""

    prompt: str  # the prompt's label: its text, and its picture's path when it showed one
    setting: dict[str, Any]
    seed: int
    this: str
    other: str
    this_reward: float | None = None
    other_reward: float | None = None


def matched_pairs(this: ResultsDoc, other: ResultsDoc) -> list[MatchedPair]:
    """The cells both sweeps hold, in this config's order. Rewards come along only when the same judge revision
    scored both files under the same sweep spec: otherwise they are not comparable."""
    scored = (this.judge is not None and other.judge is not None and this.judge.judge == other.judge.judge
              and this.judge.eval_sha256 == other.judge.eval_sha256)
    theirs: dict[tuple[tuple[str, str | None], str, int], tuple[str, float | None]] = {}
    for p, prompt in enumerate(other.results):
        for s, setting in enumerate(prompt.settingsResults):
            for seed, text in enumerate(setting.completions):
                reward = other.judge.rewards[p][s][seed] if scored and other.judge else None
                theirs[(prompt.identity, setting_key(setting.setting), seed)] = (text, reward)
    pairs = []
    for p, prompt in enumerate(this.results):
        for s, setting in enumerate(prompt.settingsResults):
            for seed, text in enumerate(setting.completions):
                if (found := theirs.get((prompt.identity, setting_key(setting.setting), seed))) is None:
                    continue
                reward = this.judge.rewards[p][s][seed] if scored and this.judge else None
                pairs.append(MatchedPair(prompt.label, setting.setting, seed + 1, text, found[0], reward, found[1]))
    return pairs


@dataclass(frozen=True)
class JudgedPair:
    """A pair's two answers: `forward` with this config's punchline first, `backward` with it second. Identical
    punchlines are not asked about (both None)."""

    pair: MatchedPair
    forward: Answer | None
    backward: Answer | None

    @property
    def winner(self) -> Winner:
        if self.forward is None or self.backward is None:
            return Winner.TIE
        orders = (self.forward.verdict, self.backward.verdict)
        if orders == (Verdict.FIRST, Verdict.SECOND):
            return Winner.THIS
        if orders == (Verdict.SECOND, Verdict.FIRST):
            return Winner.OTHER
        return Winner.TIE

    @property
    def answers(self) -> list[Answer]:
        return [answer for answer in (self.forward, self.backward) if answer is not None]

    @property
    def reason(self) -> str:
        if self.forward is None:
            return IDENTICAL
        return (self.backward if self.winner is Winner.OTHER and self.backward else self.forward).reason


def score(winner: Winner) -> float:
    return {Winner.THIS: 1.0, Winner.OTHER: 0.0, Winner.TIE: 0.5}[winner]


def win_rate(judged: Sequence[JudgedPair]) -> float:
    return sum(score(j.winner) for j in judged) / len(judged) if judged else float("nan")


def _prompt_groups(judged: Sequence[JudgedPair]) -> list[list[JudgedPair]]:
    groups: dict[str, list[JudgedPair]] = {}
    for item in judged:
        groups.setdefault(item.pair.prompt, []).append(item)
    return list(groups.values())


def _pooled_win_rate(groups: list[list[JudgedPair]]) -> float:
    return win_rate([item for group in groups for item in group])


def interval(judged: Sequence[JudgedPair]) -> tuple[float, float]:
    """95 % bootstrap interval of the win rate over prompts."""
    return bootstrap_interval(_prompt_groups(judged), _pooled_win_rate)


def first_position_share(judged: Sequence[JudgedPair]) -> float | None:
    """Of the answers that picked a side, the share that picked the one shown first; None when none did."""
    decisive = [a.verdict for j in judged for a in j.answers if a.verdict in (Verdict.FIRST, Verdict.SECOND)]
    return sum(v is Verdict.FIRST for v in decisive) / len(decisive) if decisive else None


def reward_agreement(judged: Sequence[JudgedPair]) -> tuple[float | None, int]:
    """How often the reward judge's higher score sits on the LLM judge's winner, over decisive pairs both judged."""
    both = [j for j in judged if j.winner is not Winner.TIE and j.pair.this_reward is not None
            and j.pair.other_reward is not None and j.pair.this_reward != j.pair.other_reward]
    agree = sum((j.pair.this_reward > j.pair.other_reward) == (j.winner is Winner.THIS)  # type: ignore[operator]
                for j in both)
    return (agree / len(both) if both else None), len(both)


def mean_length(texts: Sequence[str]) -> float:
    return round(sum(len(t) for t in texts) / len(texts), 1) if texts else 0.0


def verdicts(judged: Sequence[JudgedPair]) -> list[PairVerdict]:
    return [PairVerdict(prompt=j.pair.prompt, setting=j.pair.setting, seed=j.pair.seed, winner=j.winner,
                        reason=j.reason) for j in judged]
