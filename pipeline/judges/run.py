"""Judging configs against each other with an LLM: ask what the cache lacks, within the run's request budget, and
turn complete comparisons into `judgments` entries (judges/pairs.py has the rules).

Every question is planned first, so a run knows how many it has left when `max_requests` stops it, and an
answer is cached the moment it arrives: an interrupted run resumes where it stopped, and a finished one re-run
asks nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from pipeline.formats.results import PairwiseJudgment, ResultsDoc, Winner
from pipeline.judges.cache import AnswerCache, answer_key
from pipeline.judges.client import ChatJudge, JudgeError
from pipeline.judges.pairs import (
    JudgedPair,
    MatchedPair,
    first_position_share,
    interval,
    matched_pairs,
    mean_length,
    reward_agreement,
    verdicts,
    win_rate,
)
from pipeline.judges.prompt import PromptTemplate, Verdict

# Consecutive failed questions (each after its retries) that stop a run: the endpoint is down, not one answer.
FAILURES_IN_A_ROW = 3


@dataclass(frozen=True)
class Comparison:
    """This config's results against another's (its family's previous config, its base reference, a name)."""

    this: str
    other: str
    this_doc: ResultsDoc
    other_doc: ResultsDoc


@dataclass(frozen=True)
class Question:
    key: str
    content: str
    where: str  # for a failure's line: `quip-002 vs quip-001, prompt 3 seed 1, quip-002 first`


@dataclass
class JudgingOutcome:
    judgments: list[tuple[Comparison, PairwiseJudgment]] = field(default_factory=list)
    incomplete: list[tuple[Comparison, int]] = field(default_factory=list)  # comparisons missing answers
    asked: int = 0  # questions answered by the endpoint this run
    reused: int = 0  # questions answered from the cache
    remaining: int = 0  # questions still unanswered when the run stopped
    failures: list[str] = field(default_factory=list)
    stopped: str | None = None  # why the run stopped before asking everything


def _questions(comparison: Comparison, pair: MatchedPair, model: str, template: PromptTemplate,
               index: int) -> tuple[Question, Question]:
    where = f"{comparison.this} vs {comparison.other}, prompt {index} seed {pair.seed}"
    asked = template.render(pair.prompt, pair.this, pair.other), template.render(pair.prompt, pair.other, pair.this)
    forward = Question(answer_key(model, asked[0]), asked[0], f"{where}, {comparison.this} first")
    backward = Question(answer_key(model, asked[1]), asked[1], f"{where}, {comparison.other} first")
    return forward, backward


def judge_comparisons(judge: ChatJudge, template: PromptTemplate, cache: AnswerCache,
                      comparisons: Sequence[Comparison],
                      on_progress: Callable[[int, int], None] = lambda _done, _total: None) -> JudgingOutcome:
    """Ask the endpoint every question the cache lacks (until `max_requests`), then assemble what is complete."""
    model = judge.settings.model
    plan: list[list[tuple[MatchedPair, tuple[Question, Question] | None]]] = []
    for comparison in comparisons:
        prompts = {p.label: i for i, p in enumerate(comparison.this_doc.results, start=1)}
        plan.append([(pair, None if pair.this == pair.other else
                      _questions(comparison, pair, model, template, prompts[pair.prompt]))
                     for pair in matched_pairs(comparison.this_doc, comparison.other_doc)])
    wanted = {q.key: q for entries in plan for _, both in entries if both for q in both}
    needed = [q for key, q in wanted.items() if cache.get(key) is None]
    outcome = JudgingOutcome(reused=len(wanted) - len(needed))
    failed_in_a_row = 0
    for done, question in enumerate(needed):
        if judge.requests >= judge.settings.max_requests:
            outcome.stopped = f"max_requests ({judge.settings.max_requests}) reached"
            break
        if failed_in_a_row >= FAILURES_IN_A_ROW:
            outcome.stopped = f"{FAILURES_IN_A_ROW} questions in a row failed"
            break
        try:
            cache.add(question.key, judge.ask(question.content))
        except JudgeError as exc:
            failed_in_a_row += 1
            outcome.failures.append(f"{question.where}: {exc}")
        else:
            failed_in_a_row = 0
            outcome.asked += 1
        on_progress(done + 1, len(needed))
    outcome.remaining = sum(cache.get(q.key) is None for q in needed)
    for comparison, entries in zip(comparisons, plan, strict=True):
        judged = [JudgedPair(pair, cache.get(both[0].key), cache.get(both[1].key)) if both else
                  JudgedPair(pair, None, None) for pair, both in entries]
        missing = sum(1 for (_, both), j in zip(entries, judged, strict=True)
                      if both and (j.forward is None or j.backward is None))
        if missing or not judged:
            outcome.incomplete.append((comparison, missing))
            continue
        outcome.judgments.append((comparison, summarize(judge.name, model, template.sha256, comparison.other,
                                                        judged)))
    return outcome


def summarize(judge: str, model: str, prompt_sha256: str, other: str, judged: Sequence[JudgedPair]) -> PairwiseJudgment:
    winners = [j.winner for j in judged]
    agreement, agreed_on = reward_agreement(judged)
    low, high = interval(judged)
    return PairwiseJudgment(
        judge=judge, model=model, prompt_sha256=prompt_sha256, other=other, n=len(judged),
        wins=winners.count(Winner.THIS), losses=winners.count(Winner.OTHER), ties=winners.count(Winner.TIE),
        unreadable=sum(a.verdict is Verdict.UNREADABLE for j in judged for a in j.answers),
        win_rate=round(win_rate(judged), 4), interval=(round(low, 4), round(high, 4)),
        first_position_share=None if (share := first_position_share(judged)) is None else round(share, 4),
        mean_length=mean_length([j.pair.this for j in judged]),
        other_mean_length=mean_length([j.pair.other for j in judged]),
        reward_agreement=None if agreement is None else round(agreement, 4), reward_pairs=agreed_on,
        verdicts=verdicts(judged))
