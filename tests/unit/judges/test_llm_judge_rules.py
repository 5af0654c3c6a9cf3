"""The LLM judge's rules without a server: settings, reading answers, both-order verdicts, the figures, the cache."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipeline.core.judge_settings import LlmJudgeSettings
from pipeline.core.settings import SettingsError, load_settings
from pipeline.formats.results import PairwiseJudgment, ResultsDoc, Winner, dumps_results
from pipeline.judges.cache import AnswerCache, answer_key
from pipeline.judges.pairs import (
    IDENTICAL,
    JudgedPair,
    MatchedPair,
    first_position_share,
    interval,
    matched_pairs,
    reward_agreement,
    win_rate,
)
from pipeline.judges.prompt import (
    DEFAULT_TEMPLATE,
    Answer,
    JudgePromptError,
    PromptTemplate,
    Verdict,
    load_template,
    read_answer,
)
from pipeline.judges.run import summarize
from tests.support.sample_results import CAPTION, picture_doc, results_doc
from tests.support.vision import draw_cartoons

A, B, TIE = Answer(Verdict.FIRST, "a"), Answer(Verdict.SECOND, "b"), Answer(Verdict.TIE, "same")


def pair(prompt: str = "p", this: str = "x", other: str = "y",
         rewards: tuple[float, float] | None = None) -> MatchedPair:
    return MatchedPair(prompt, {"temperature": 0.1}, 1, this, other, *(rewards or (None, None)))


@pytest.mark.parametrize(("text", "verdict", "reason"), [
    ("A\nThe twist lands.", Verdict.FIRST, "The twist lands."),
    ("[[B]] shorter", Verdict.SECOND, "shorter"),
    ("Answer: tie", Verdict.TIE, ""),
    ("Punchline B.\nwhy", Verdict.SECOND, "why"),
    ("The answer is: Pun B.", Verdict.SECOND, ""),  # what SmolLM2-135M says
    ("The funnier one is A, the twist", Verdict.FIRST, "the twist"),
    ("Anyway, A is better", Verdict.UNREADABLE, "Anyway, A is better"),
    ("", Verdict.UNREADABLE, ""),
])
def test_answers_are_read_from_their_first_line(text: str, verdict: Verdict, reason: str) -> None:
    assert read_answer(text) == Answer(verdict, reason)


@pytest.mark.parametrize(("forward", "backward", "winner"), [
    (A, B, Winner.THIS),  # this shown first and picked, then shown second and picked
    (B, A, Winner.OTHER),
    (A, A, Winner.TIE),  # always the first shown: the orders disagree
    (TIE, B, Winner.TIE),
    (Answer(Verdict.UNREADABLE, "?"), B, Winner.TIE),
])
def test_a_pair_is_won_only_when_both_orders_agree(forward: Answer, backward: Answer, winner: Winner) -> None:
    assert JudgedPair(pair(), forward, backward).winner is winner


def test_win_rate_counts_ties_half_and_its_interval_resamples_prompts() -> None:
    judged = [JudgedPair(pair(f"p{i}"), A, B) for i in range(6)] + [JudgedPair(pair(f"q{i}"), A, A) for i in range(4)]
    assert win_rate(judged) == pytest.approx((6 + 2) / 10)
    low, high = interval(judged)
    assert low < 0.8 < high <= 1.0 and (low, high) == interval(judged)
    one_prompt = [JudgedPair(pair("same"), A, B), JudgedPair(pair("same"), B, A)]
    assert interval(one_prompt) == (0.5, 0.5)  # one prompt: resampling prompts cannot vary it


def test_position_bias_is_the_share_of_decisive_answers_for_the_first_shown() -> None:
    judged = [JudgedPair(pair(), A, A), JudgedPair(pair(), A, B), JudgedPair(pair(), TIE, TIE)]
    assert first_position_share(judged) == pytest.approx(3 / 4)
    assert first_position_share([JudgedPair(pair(), TIE, TIE)]) is None


def test_agreement_with_the_reward_judge_counts_decisive_pairs_both_judged() -> None:
    judged = [JudgedPair(pair(rewards=(1.0, 0.0)), A, B),  # both pick this
              JudgedPair(pair(rewards=(0.0, 1.0)), A, B),  # the reward picks other
              JudgedPair(pair(rewards=(1.0, 1.0)), A, B),  # the reward ties: left out
              JudgedPair(pair(), A, B)]  # no rewards: left out
    assert reward_agreement(judged) == (0.5, 2)


def test_identical_completions_are_a_tie_without_asking() -> None:
    judged = JudgedPair(pair(this="same", other="same"), None, None)
    assert judged.winner is Winner.TIE and judged.reason == IDENTICAL and not judged.answers


def test_the_summary_is_a_valid_results_entry() -> None:
    judged = [JudgedPair(pair(f"p{i}"), A, B) for i in range(3)] + [JudgedPair(pair("q"), B, A)]
    entry = summarize("smollm", "SmolLM2", "0" * 64, "jokes-001", judged)
    assert (entry.n, entry.wins, entry.losses, entry.ties) == (4, 3, 1, 0)
    assert entry.win_rate == 0.75 and entry.first_position_share == 0.5
    assert [v.winner for v in entry.verdicts] == [Winner.THIS] * 3 + [Winner.OTHER]


def test_matched_pairs_are_the_cells_both_sweeps_hold() -> None:
    this = ResultsDoc.model_validate(results_doc("jokes-002"))
    other = ResultsDoc.model_validate(results_doc("jokes-001"))
    other.results = other.results[:1]  # the other sweep has only the first prompt
    pairs = matched_pairs(this, other)
    assert len(pairs) == 2 * 3  # one prompt x two settings x three seeds
    assert pairs[0].this == "jokes-002 joke 0.0.1" and pairs[0].other == "jokes-001 joke 0.0.1"
    assert pairs[0].this_reward is None  # neither file was scored by a reward judge


def test_a_torn_line_is_skipped_and_no_answer_is_written_twice(tmp_path: Path) -> None:
    cache = AnswerCache(tmp_path)
    template = PromptTemplate(DEFAULT_TEMPLATE)
    first, second = answer_key("m", template.render("s", "x", "y")), answer_key("m", template.render("s", "y", "x"))
    assert first != second  # the order shown is part of the key
    assert answer_key("m", template.render("other setup", "x", "y")) != first  # and so is the setup
    cache.add(first, "A\nshorter")
    cache.add(first, "B")  # already answered: kept as it was
    with open(cache.path, "a", encoding="utf-8") as out:
        out.write('{"key": "' + second[:10])  # killed mid-write
    reread = AnswerCache(tmp_path)
    assert reread.get(first) == Answer(Verdict.FIRST, "shorter") and reread.get(second) is None
    reread.add(second, "The answer is: B")
    assert AnswerCache(tmp_path).answers == {first: Answer(Verdict.FIRST, "shorter"),
                                             second: Answer(Verdict.SECOND, "")}
    assert len(cache.path.read_text().splitlines()) == 3  # the torn line stays, closed, and is skipped


@pytest.mark.parametrize("url", ["http://judge.example.com/v1", "ftp://127.0.0.1/v1", "http://10.0.0.5:8000/v1"])
def test_the_key_only_travels_over_tls_or_to_this_machine(url: str) -> None:
    with pytest.raises(ValueError, match="neither https nor a loopback"):
        LlmJudgeSettings(model="m", base_url=url)


@pytest.mark.parametrize("url", ["https://api.openai.com/v1", "http://127.0.0.1:8080/v1", "http://localhost:1/v1",
                                 "http://[::1]:8080/v1"])
def test_https_and_loopback_endpoints_are_allowed(url: str) -> None:
    assert LlmJudgeSettings(model="m", base_url=url).base_url == url


def write_judges(root: Path, table: str) -> None:
    (root / "pyproject.toml").write_text((root / "pyproject.toml").read_text() + table)


def test_judges_are_read_from_pyproject_with_the_reward_judge_among_them(haha_repo: Path) -> None:
    write_judges(haha_repo, '\n[tool.haha.judges.smollm]\nkind = "llm"\nmodel = "SmolLM2"\n'
                            'base_url = "http://127.0.0.1:8080/v1"\nmax_requests = 10\n')
    judges = load_settings(haha_repo).judges
    assert isinstance(judges["smollm"], LlmJudgeSettings) and judges["smollm"].max_requests == 10


@pytest.mark.parametrize(("table", "message"), [
    ('kind = "lmm"\nmodel = "m"\n', "judges.smollm.kind: unknown judge kind 'lmm'.*did you mean 'llm'"),
    ('kind = "llm"\nmodel = "m"\nbase_url = "http://judge.example.com"\n', "judges.smollm.base_url"),
    ('kind = "llm"\nmodel = "m"\napi_key = "sk-secret"\n', "judges.smollm.api_key: Extra inputs"),
])
def test_a_bad_judge_is_refused_naming_its_key(haha_repo: Path, table: str, message: str) -> None:
    write_judges(haha_repo, f"\n[tool.haha.judges.smollm]\n{table}")
    with pytest.raises(SettingsError, match=message):
        load_settings(haha_repo)


def test_a_prompt_file_is_used_only_as_pinned(tmp_path: Path) -> None:
    import hashlib

    text = "Setup {setup}\nA: {first}\nB: {second}\nWhich?"
    (tmp_path / "judge.txt").write_text(text)
    pin = hashlib.sha256(text.encode()).hexdigest()
    assert load_template(tmp_path, "judge.txt", pin).render("s", "x", "y") == "Setup s\nA: x\nB: y\nWhich?"
    assert load_template(tmp_path, None, None).text == DEFAULT_TEMPLATE
    with pytest.raises(JudgePromptError, match="update the pin"):
        load_template(tmp_path, "judge.txt", "0" * 64)
    (tmp_path / "judge.txt").write_text("A: {first}\nB: {second}")
    lacking = hashlib.sha256(b"A: {first}\nB: {second}").hexdigest()
    with pytest.raises(JudgePromptError, match="exactly the fields"):
        load_template(tmp_path, "judge.txt", lacking)


def test_bradley_terry_over_verdicts_orders_configs_with_intervals() -> None:
    from pipeline.results.rank import judged_leaderboard

    def judged(other: str, wins: int, losses: int, ties: int, judge: str = "smollm") -> PairwiseJudgment:
        points = [JudgedPair(pair(f"p{i}"), A, B) for i in range(wins)] + [
            JudgedPair(pair(f"q{i}"), B, A) for i in range(losses)] + [
            JudgedPair(pair(f"r{i}"), A, A) for i in range(ties)]
        return summarize(judge, "m", "0" * 64, other, points)

    ranks = judged_leaderboard([("quip-003", judged("quip-002", 8, 1, 1)), ("quip-002", judged("quip-001", 7, 2, 1)),
                                ("quip-003", judged("quip-001", 9, 0, 1, judge="other"))], "smollm")
    assert [r.name for r in ranks] == ["quip-003", "quip-002", "quip-001"]
    assert all(r.low <= r.score <= r.high for r in ranks)
    assert ranks[1].pairs == 20 and ranks[0].win_share == pytest.approx(8.5 / 10)
    assert judged_leaderboard([("quip-003", judged("quip-002", 1, 0, 0))], "nobody") == []


def test_the_index_carries_each_judgment_for_the_page(tmp_path: Path) -> None:
    from pipeline.results.page import index_payload
    from pipeline.results.scan import scan_results
    from tests.support.sample_results import write_doc

    doc = ResultsDoc.model_validate(results_doc("quip-002"))
    doc.judgments = [summarize("smollm", "SmolLM2", "0" * 64, "quip-001",
                               [JudgedPair(pair("p"), A, B), JudgedPair(pair("q"), A, A)])]
    write_doc(tmp_path, "quip-002", json.loads(dumps_results(doc)))
    shown = index_payload(scan_results(tmp_path))["configs"][0]["judgments"][0]
    assert (shown["other"], shown["winRate"], shown["firstShown"], shown["n"]) == ("quip-001", 0.75, "75%", 2)
    assert [v["winner"] for v in shown["verdicts"]] == ["this", "tie"]


def test_one_caption_question_over_several_pictures_is_several_prompts(tmp_path: Path) -> None:
    data = tmp_path / "data"
    draw_cartoons().write_all(data)
    pictures = sorted(path.relative_to(data).as_posix() for path in (data / "cartoons").glob("*.png"))[:3]
    this = ResultsDoc.model_validate(picture_doc("cartoons-002", data, pictures))
    other = ResultsDoc.model_validate(picture_doc("cartoons-001", data, pictures[:2]))
    pairs = matched_pairs(this, other)
    assert len(pairs) == 2 * 2 * 3  # the two pictures both hold x two settings x three seeds, not one merged prompt
    assert {p.prompt for p in pairs} == {f"{CAPTION} [image: {picture}]" for picture in pictures[:2]}
    other.results[0].image_sha256 = "0" * 64  # the first picture changed between the two runs: another question
    assert {p.prompt for p in matched_pairs(this, other)} == {f"{CAPTION} [image: {pictures[1]}]"}
