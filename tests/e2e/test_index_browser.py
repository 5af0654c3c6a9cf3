"""index.html in a real browser: Playwright drives the system Chromium (see browser_page) on the page from disk.

Screenshots are saved under $HAHA_ARTIFACTS, else the test's tmp dir, for a person to look at.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Locator, expect

from pipeline.results.entries import Sources
from pipeline.results.rebuild import write_index
from tests.support.browser_page import chromium, opened, screenshot_path
from tests.support.paths import REPO
from tests.support.sample_results import completions, picture_doc, results_doc, write_doc

pytestmark = pytest.mark.slow

PROMPT = "My cat knocked over my coffee."


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """One Chromium for the module; each test gets its own context (`opened`), so no state is shared."""
    with chromium() as launched:
        yield launched


def dataset(elements: Locator, key: str) -> list[str]:
    """`data-<key>` of each element, in page order."""
    return elements.evaluate_all("(elements, key) => elements.map(e => e.dataset[key])", key)


@pytest.fixture
def index_html(tmp_path: Path) -> Path:
    folder = tmp_path / "results"
    folder.mkdir()
    write_doc(folder, "haha-a", results_doc("haha-a", learning_rate=0.0002, finished="2025-03-01T10:00:00+00:00"))
    write_doc(folder, "haha-b", results_doc("haha-b", repeat_cold=True, finished="2025-03-02T10:00:00+00:00"))
    write_doc(folder, "haha-c", results_doc("haha-c", meta=False))
    (folder / "haha-broken.json").write_text("{")
    write_index(folder)
    return folder / "index.html"


def test_two_configs_side_by_side_with_their_difference(browser: Browser, index_html: Path, tmp_path: Path) -> None:
    with opened(browser, f"{index_html.as_uri()}?select=haha-a,haha-b") as page:
        article = page.locator(f'article[data-prompt="{PROMPT}"]')
        expect(article, "the prompt's comparison table is missing").to_have_count(1)
        expect(article.locator("th")).to_have_text(["setting", "seed", "haha-a", "haha-b"])
        for name, repeat in (("haha-a", False), ("haha-b", True)):
            cells = article.locator(f'td[data-config="{name}"] span.text').all_text_contents()
            assert cells == [*completions(name, 1, 0, repeat), *completions(name, 1, 1, repeat)]
        expect(article.locator('td.completion.rep[data-config="haha-b"] span.badge')).to_have_text(
            ["same as seed 2", "same as seed 1"])
        expect(page.locator('td[data-config="haha-c"]')).to_have_count(0)

        learning_rate = page.locator('tr[data-key="learning_rate"]')
        expect(learning_rate).to_have_class("differs")
        expect(learning_rate.locator("td")).to_have_text(["learning_rate", "0.0002", "9.5e-05"])
        expect(page.locator('tr[data-key="sequence_len"]'), "equal keys are hidden by default").to_have_count(0)
        expect(page.locator("#broken")).to_contain_text("haha-broken.json")

        shot = screenshot_path(tmp_path, "index.png")
        page.screenshot(path=shot)
    assert shot.stat().st_size > 10_000


def test_clicking_configs_filtering_and_hiding_settings(browser: Browser, index_html: Path) -> None:
    uri = index_html.as_uri()
    with opened(browser, uri) as page:
        # The two newest are preselected; haha-c (old format, never committed) has no known time, so it is not.
        expect(page).to_have_url(f"{uri}#select=haha-b,haha-a")
        page.locator("#picker input[data-name=haha-a]").click()  # the checkbox itself
        expect(page).to_have_url(f"{uri}#select=haha-b")
        page.locator("#picker tr[data-name=haha-a] td.name").click()  # anywhere on the row
        expect(page).to_have_url(f"{uri}#select=haha-b,haha-a")
        expect(page.locator("article.prompt").first.locator("thead th")).to_have_text(
            ["setting", "seed", "haha-b", "haha-a"])
        assert dataset(page.locator("tr.differs"), "key") == ["learning_rate"]

        page.locator("#filter").fill("COFFEE")
        expect(page).to_have_url(f"{uri}#select=haha-b,haha-a&q=COFFEE")  # once typing has paused
        assert dataset(page.locator("article.prompt"), "prompt") == [PROMPT]

        page.locator(".chip").first.click()  # hide t=0.1
        expect(page.locator("td.setting")).to_have_text(["t=0.9 top_p=0.95"])
        page.locator("#show-same").click()
        expect(page.locator("table.params tr[data-key]")).to_have_count(15)


@pytest.fixture
def twenty_configs(tmp_path: Path) -> Path:
    """20 configs written by the eval's own writers: one whose completions are all empty, one with a completion of
    8,872 characters, and training loss curves (recorded by the evaluate stage from the run), one with GRPO's
    mean reward by step."""
    from pipeline.evaluate.quality import quality
    from pipeline.formats.results import LossCurve, ResultsDoc

    folder = tmp_path / "results"
    folder.mkdir()
    for number in range(1, 21):
        name = f"haha-many-{number:03d}"
        doc = ResultsDoc.model_validate(results_doc(name, learning_rate=0.0001 * number,
                                                    finished=f"2025-04-{number:02d}T10:00:00+00:00"))
        if number == 19:
            for prompt in doc.results:
                for setting in prompt.settingsResults:
                    setting.completions = ["", "", ""]
        if number == 20:
            doc.results[0].settingsResults[0].completions[0] = "Why " * 2218  # 8,872 characters
        assert doc.meta is not None
        doc.meta.quality = quality(doc.results)
        doc.meta.training_loss = LossCurve(steps=list(range(1, 25)), loss=[4.0 - step / (10 + number)
                                                                           for step in range(1, 25)])
        if number == 20:  # a GRPO run: the mean reward of each step's answers
            doc.meta.training_loss.reward = [-0.5 + step / 24 for step in range(1, 25)]
        write_doc(folder, name, json.loads(doc.model_dump_json(exclude_unset=True)))
    write_index(folder)
    return folder / "index.html"


def test_twenty_configs_chart_each_chosen_one_and_collapse_long_text(browser: Browser, twenty_configs: Path,
                                                                     tmp_path: Path) -> None:
    url = f"{twenty_configs.as_uri()}#select=haha-many-019,haha-many-020"
    with opened(browser, url, height=1400) as page:
        assert dataset(page.locator(".chart"), "config") == ["haha-many-019", "haha-many-020"]
        expect(page.locator(".chart svg")).to_have_count(5)  # loss and quality for each, the GRPO run's reward
        expect(page.locator(".chart svg polyline[data-series=loss]")).to_have_count(2)
        reward = page.locator(".chart[data-config=haha-many-020] polyline[data-series='mean reward']")
        expect(reward).to_have_count(1)
        heights = [float(point.split(",")[1]) for point in (reward.get_attribute("points") or "").split(" ")]
        assert heights[0] > heights[-1]  # the rising reward climbs the chart (SVG's y grows downwards)
        empty = page.locator(".chart[data-config=haha-many-019] polyline[data-series=empty]")
        expect(empty).to_have_count(1)
        # The all-empty config's "empty" line sits at the top of its 0..1 scale at every temperature.
        heights = {point.split(",")[1] for point in (empty.get_attribute("points") or "").split(" ")}
        assert len(heights) == 1
        empties = page.locator("td.completion.empty .text").all_text_contents()
        assert empties and set(empties) == {"(empty)"}
        expect(page.locator("td.completion.empty.rep"), "empties are not repeats").to_have_count(0)

        shot = screenshot_path(tmp_path, "index-charts.png")
        page.screenshot(path=shot)  # before the long text is expanded, as a person first sees it

        long_cell = page.locator("td.completion.long")
        assert (long_cell.bounding_box() or {"height": 0})["height"] < 250
        long_cell.locator("button.more").click()
        expect(long_cell.locator("button.more")).to_have_text("show less")
        assert (long_cell.bounding_box() or {"height": 0})["height"] > 1000
    assert shot.stat().st_size > 10_000


def test_the_first_view_is_the_newest_config_beside_the_previous_of_its_family(browser: Browser,
                                                                              twenty_configs: Path) -> None:
    """Opened without a selection, the page answers "what did my change do": haha-many-020 beside haha-many-019,
    not the two newest of whatever families (an older haha-many config finished last here)."""
    folder = twenty_configs.parent
    older = json.loads((folder / "haha-many-005.json").read_text())
    older["meta"]["finished"] = "2025-05-30T10:00:00+00:00"  # retrained last: still not the previous of 020
    write_doc(folder, "haha-many-005", older)
    newest_doc = json.loads((folder / "haha-many-020.json").read_text())
    newest_doc["meta"]["finished"] = "2025-06-01T10:00:00+00:00"
    write_doc(folder, "haha-many-020", newest_doc)
    write_index(folder)
    with opened(browser, twenty_configs.as_uri()) as page:
        expect(page).to_have_url(f"{twenty_configs.as_uri()}#select=haha-many-020,haha-many-019")


def test_an_llm_judges_win_rate_and_each_verdict_show_for_the_chosen_configs(browser: Browser, tmp_path: Path) -> None:
    from pipeline.formats.results import ResultsDoc, dumps_results
    from pipeline.judges.pairs import JudgedPair, matched_pairs
    from pipeline.judges.prompt import Answer, Verdict
    from pipeline.judges.run import summarize

    folder = tmp_path / "results"
    folder.mkdir()
    older = ResultsDoc.model_validate(results_doc("quip-001", finished="2025-03-01T10:00:00+00:00"))
    newer = ResultsDoc.model_validate(results_doc("quip-002", finished="2025-03-02T10:00:00+00:00"))
    pairs = matched_pairs(newer, older)
    assert len(pairs) == 12  # 2 prompts x 2 settings x 3 seeds
    picked, first = Answer(Verdict.FIRST, "the twist <b>lands</b>"), Answer(Verdict.SECOND, "the twist lands")
    judged = [JudgedPair(pair, picked, first) for pair in pairs[:9]] + [
        JudgedPair(pair, picked, picked) for pair in pairs[9:]]  # the first shown each time: a tie
    newer.judgments = [summarize("gpt", "gpt-4o-mini", "0" * 64, "quip-001", judged)]
    write_doc(folder, "quip-001", json.loads(dumps_results(older)))
    write_doc(folder, "quip-002", json.loads(dumps_results(newer)))
    write_index(folder)
    with opened(browser, f"{(folder / 'index.html').as_uri()}?select=quip-002,quip-001") as page:
        rows = page.locator("table.params tr", has_text="win rate vs quip-001")
        expect(rows).to_have_count(1)
        expect(rows.locator("td.llm-win")).to_contain_text(["88% (", "—"])  # (9 wins + 3 ties / 2) / 12
        verdicts = page.locator("details.verdict")
        expect(verdicts.locator("summary")).to_contain_text("quip-002 vs quip-001")
        verdicts.locator("summary").click()
        expect(verdicts.locator("td.winner")).to_have_text(["quip-002"] * 9 + ["tie"] * (len(pairs) - 9))
        expect(verdicts.locator("td", has_text="the twist <b>lands</b>").first).to_be_visible()  # shown as text
        page.screenshot(path=screenshot_path(tmp_path, "index-llm-judge.png"))



CARTOONS = ["cartoons/03-fish.png", "cartoons/08-ghost.png", "cartoons/13-coffee.png"]


def test_each_pictures_thumbnail_shows_beside_its_completions(browser: Browser, tmp_path: Path) -> None:
    """Two caption configs over the repo's own cartoons: one prompt per picture, its thumbnail left of the table;
    a results file naming a path outside train/data gets no picture and the word why."""
    folder = tmp_path / "results"
    folder.mkdir()
    data = REPO / "train" / "data"
    write_doc(folder, "cartoons-a-001", picture_doc("cartoons-a-001", data, CARTOONS, "2025-03-01T10:00:00+00:00"))
    hostile = picture_doc("cartoons-a-002", data, CARTOONS, "2025-03-02T10:00:00+00:00")
    hostile["results"].append({**hostile["results"][0], "image": "../../etc/passwd"})
    write_doc(folder, "cartoons-a-002", hostile)
    write_index(folder, Sources(data_dir=data))
    with opened(browser, f"{(folder / 'index.html').as_uri()}?select=cartoons-a-002,cartoons-a-001",
                height=1400) as page:
        articles = page.locator("article.prompt")
        expect(articles).to_have_count(len(CARTOONS) + 1)
        assert dataset(articles, "image") == [*CARTOONS, "../../etc/passwd"]
        for image in CARTOONS:
            article = page.locator(f'article[data-image="{image}"]')
            row = article.locator("div.with-picture")
            expect(row.locator("figure.picture img")).to_have_count(1)
            expect(row.locator("figure.picture figcaption")).to_have_text(image)
            expect(row.locator('td[data-config="cartoons-a-001"] span.text')).to_have_count(6)
            size = row.locator("img").evaluate("img => [img.complete, img.naturalWidth, img.naturalHeight]")
            assert size[0] and max(size[1:]) == 96  # decoded, at the index's thumbnail size
            picture_box = row.locator("figure.picture").bounding_box()
            table_box = row.locator("table.grid").bounding_box()
            assert picture_box and table_box and picture_box["x"] + picture_box["width"] <= table_box["x"]
        refused = page.locator('article[data-image="../../etc/passwd"] figure.picture')
        expect(refused.locator("img")).to_have_count(0)
        expect(refused.locator("span.none")).to_have_text("refused")
        shot = screenshot_path(tmp_path, "index-thumbnails.png")
        page.locator("#prompts").screenshot(path=shot)
    assert shot.stat().st_size > 10_000
