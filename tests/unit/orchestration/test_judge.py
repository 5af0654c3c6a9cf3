"""The judge across configs: scores in every results file, the index's mean-reward column, and `haha rank`."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from pipeline.core.files import write_atomic
from pipeline.core.runs import AdapterRef
from pipeline.core.settings import load_settings
from pipeline.formats.results import ConfigBlock, JudgeScores, Meta, ResultsDoc, dumps_results, load_results
from pipeline.orchestration.context import make_context
from pipeline.orchestration.judging import judge_results
from pipeline.publish.hub import Push, publish
from pipeline.publish.local import LocalHub
from pipeline.results.rank import Contender, bradley_terry, largest_group, leaderboard, win_share
from pipeline.results.readme import render_readme
from pipeline.results.rebuild import write_index
from pipeline.results.scan import scan_results
from tests.support.sample_results import picture_doc, results_doc, write_doc
from tests.support.vision import draw_cartoons

JUDGE = AdapterRef(basename="haha-rm-001", repo_id="haha-lab/haha-rm-001", revision="1234567890abcdef")


def judged(name: str, rewards: list[float], judge: AdapterRef = JUDGE) -> dict:
    """A results file from the writers, with judge scores for its 2 prompts x 2 settings x 3 seeds."""
    doc = ResultsDoc.model_validate(results_doc(name, learning_rate=0.0001))
    nested = [[rewards[(p * 2 + s) * 3:(p * 2 + s) * 3 + 3] for s in range(2)] for p in range(2)]
    doc.judge = JudgeScores(judge=judge, mean_reward=round(sum(rewards) / len(rewards), 4), n=len(rewards),
                            rewards=nested)
    return json.loads(dumps_results(doc))


# ---- ranking, pure ----

def test_win_share_counts_ties_as_half() -> None:
    a = Contender("a", {(0, 0, 0): 1.0, (0, 0, 1): 0.5, (0, 0, 2): 0.0})
    b = Contender("b", {(0, 0, 0): 0.0, (0, 0, 1): 0.5, (0, 0, 2): 1.0})
    assert win_share(a, b) == pytest.approx(0.5)
    assert win_share(a, Contender("c", {})) is None


def test_bradley_terry_orders_by_wins_and_centres_on_zero() -> None:
    scores = bradley_terry([[0, 9, 9], [1, 0, 6], [1, 4, 0]])
    assert scores[0] > scores[1] > scores[2]
    assert sum(scores) == pytest.approx(0.0, abs=1e-6)
    assert bradley_terry([[0, 5], [5, 0]]) == pytest.approx([0.0, 0.0], abs=1e-6)


def test_leaderboard_has_intervals_around_each_score_and_repeats_exactly() -> None:
    strong = Contender("strong", {(p, 0, 0): 1.0 + p / 100 for p in range(40)})
    middle = Contender("middle", {(p, 0, 0): 0.5 + (p % 3) / 2 for p in range(40)})
    weak = Contender("weak", {(p, 0, 0): 0.0 for p in range(40)})
    board = leaderboard([weak, middle, strong])
    assert [r.name for r in board] == ["strong", "middle", "weak"]
    assert all(r.low <= r.score <= r.high for r in board)
    assert board[0].win_share > board[1].win_share > board[2].win_share
    assert board == leaderboard([weak, middle, strong])


def test_scores_of_another_judge_revision_are_never_ranked_together() -> None:
    other = JUDGE.model_copy(update={"revision": "fedcba"})
    named = [(name, ResultsDoc.model_validate(judged(name, [0.1] * 12, judge)).judge)
             for name, judge in (("a", JUDGE), ("b", JUDGE), ("c", other))]
    chosen, left_out = largest_group([(n, s) for n, s in named if s is not None])
    assert [c.name for c in chosen] == ["a", "b"] and left_out == ["c"]


# ---- the index ----

@pytest.fixture
def judged_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "results"
    folder.mkdir()
    write_doc(folder, "haha-a", judged("haha-a", [0.2] * 12))
    write_doc(folder, "haha-b", judged("haha-b", [0.9] * 6 + [0.1] * 6))
    write_doc(folder, "haha-c", judged("haha-c", [0.7] * 12))
    write_doc(folder, "haha-old", results_doc("haha-old", meta=False))  # the old format: no judge, still indexed
    return folder


def test_the_readme_shows_the_judges_mean_reward_and_names_it(judged_folder: Path) -> None:
    text = render_readme(scan_results(judged_folder))
    rows = {line.split(" | ")[0]: line for line in text.splitlines() if line.startswith("| `haha-")}
    assert rows["| `haha-a`"].endswith("| 0.200 |") and rows["| `haha-b`"].endswith("| 0.500 |")
    assert rows["| `haha-old`"].endswith("| — |")
    assert "the judge haha-rm-001 at 1234567890ab's mean score" in text


@pytest.mark.slow
def test_the_mean_reward_column_sorts_and_the_comparison_shows_win_rates(judged_folder: Path) -> None:
    from playwright.sync_api import expect

    from tests.support.browser_page import chromium, opened

    write_index(judged_folder)
    url = (judged_folder / "index.html").as_uri() + "#select=haha-a,haha-c"
    with chromium() as browser, opened(browser, url) as page:
        rows = page.locator("#picker tbody tr")
        sort = page.locator("#sort-reward")

        def order() -> list[str]:
            return rows.evaluate_all("rows => rows.map(r => r.dataset.name)")

        # The page opens ranked by the judge (best first, unscored last); a click gives config order, another ranks.
        assert order() == ["haha-c", "haha-b", "haha-a", "haha-old"]
        expect(sort).to_have_attribute("aria-sort", "descending")
        sort.click()
        assert order() == ["haha-a", "haha-b", "haha-c", "haha-old"]
        sort.click()
        assert order() == ["haha-c", "haha-b", "haha-a", "haha-old"]
        checked = page.locator("#picker input:checked").evaluate_all("boxes => boxes.map(b => b.dataset.name)")
        assert checked == ["haha-c", "haha-a"]  # the selection survives the re-sort (rows in their new order)
        wins = page.locator("table.params tr", has_text="wins against")
        expect(wins.nth(0).locator("td, th")).to_have_text(["wins against haha-a", "—", "100%"])
        expect(wins.nth(1).locator("td, th")).to_have_text(["wins against haha-c", "0%", "—"])
        expect(wins).to_have_count(2)


# ---- scoring results files with the judge's published adapter ----

def test_the_judge_scores_every_results_file_once_per_revision(haha_repo: Path, tiny_model_dir: Path,
                                                                tmp_path: Path) -> None:
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForSequenceClassification

    settings = dataclasses.replace(load_settings(haha_repo), judge="jokes-rm-001")
    config = settings.config_dir / "jokes-rm-001.yml"
    config.write_text((settings.config_dir / "jokes-001.yml").read_text()
                      .replace("haha-test/not-a-real-model", str(tiny_model_dir)) + "reward_model: true\n")
    torch.manual_seed(0)
    adapter = tmp_path / "rm-adapter"
    get_peft_model(AutoModelForSequenceClassification.from_pretrained(tiny_model_dir, num_labels=1),
                   LoraConfig(r=2, target_modules=["q_proj"], task_type="SEQ_CLS")).save_pretrained(adapter)
    ctx = make_context(settings, workspace=tmp_path / "ws")
    assert isinstance(ctx.hub, LocalHub)
    pushed = publish(Push(adapter, "haha-lab", "jokes-rm-001", "card", "sha"), ctx.hub)
    meta = Meta(finished="2026-11-20T10:00:00+00:00", hub_repo=pushed.repo_id, hub_revision=pushed.revision)
    write_atomic(settings.results_dir / "jokes-rm-001.json",
                 dumps_results(ResultsDoc(config=ConfigBlock(name="jokes-rm-001"), results=[], meta=meta)))
    write_doc(settings.results_dir, "haha-new", results_doc("haha-new"))
    old = write_doc(settings.results_dir, "haha-old", results_doc("haha-old", meta=False))
    before = json.loads(old.read_text())
    draw_cartoons().write_all(settings.data_dir)
    pictures = write_doc(settings.results_dir, "cartoons-001", picture_doc("cartoons-001", settings.data_dir,
                                                                             ["cartoons/01-cat.png"]))

    report = judge_results(ctx)
    # Not the reward model's own results, nor the captions: a text reward model cannot see their pictures.
    assert report is not None and sorted(report.scored) == ["haha-new", "haha-old"]
    assert load_results(pictures).judge is None
    scored = load_results(old).judge
    assert scored is not None and scored.judge.revision == pushed.revision and scored.n == 12
    assert all(isinstance(r, float) for p in scored.rewards for s in p for r in s)
    after = json.loads(old.read_text())
    assert {k: v for k, v in after.items() if k != "judge"} == before  # everything else as it was

    again = judge_results(ctx)
    assert again is not None and again.scored == [] and sorted(again.current) == ["haha-new", "haha-old"]


def test_validate_refuses_a_judge_that_is_not_a_reward_config(haha_repo: Path) -> None:
    from pipeline.orchestration.validation import validate

    pyproject = haha_repo / "pyproject.toml"
    pyproject.write_text(pyproject.read_text() + 'judge = "jokes-001"\n')
    report = validate([], load_settings(haha_repo))
    assert [(p.file, p.key, p.message) for p in report.other if p.key == "tool.haha.judge"] == [
        ("pyproject.toml", "tool.haha.judge", "jokes-001 does not train a reward model (it needs reward_model: true)")]


@pytest.mark.parametrize(("change", "why"), [
    (lambda d: d["judge"]["rewards"].__setitem__(0, [[0.2] * 4, [0.2] * 2]),  # 12 rewards, in the wrong places
     "do not line up with the results' completions"),
    (lambda d: d["judge"]["rewards"][0][0].__setitem__(0, "NaN"), "finite number"),
    (lambda d: d["judge"].__setitem__("n", -5), "n is -5 but there are 12 rewards"),
    (lambda d: d["judge"].__setitem__("mean_reward", 1e9), "is not the mean of the rewards"),
])
def test_judge_scores_that_do_not_add_up_make_the_file_unreadable(tmp_path: Path, change: object, why: str) -> None:
    from pipeline.formats.results import ResultsError

    doc = judged("haha-a", [0.2] * 12)
    change(doc)  # type: ignore[operator]
    path = write_doc(tmp_path, "haha-a", doc)
    with pytest.raises(ResultsError, match=why):
        load_results(path)
