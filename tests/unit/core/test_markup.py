"""Every string a pull request controls reaches a rendered page inert: a property test over every sink.

Random hostile strings (headings, HTML, links, images, bare URLs, table pipes, fences, newlines) go through
the pipeline's own writers into the results README, index.html, the job summary of a run, the validation
summary (`haha validate --json` rendered as markdown) and the model card. Each output is parsed, by
markdown-it for markdown and html.parser for the page, and compared with the same output made from plain
strings: the same headings, links, images, HTML, tables and code, links only to addresses the pipeline
builds, and no text that GitHub's autolinker would turn into a link.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from html.parser import HTMLParser
from pathlib import Path

import pytest
import yaml

from pipeline.config.summary import validation_markdown
from pipeline.core.markdown import cell, code, fenced
from pipeline.core.runs import AdapterRef, TrainingSample, TrainRecord
from pipeline.formats.results import ResultsDoc, dumps_results
from pipeline.formats.tracking import WandbRef
from pipeline.orchestration.outcome import EvalOutcome, Outcome, Sample, StageName, StageResult, StageStatus
from pipeline.orchestration.report import markdown_summary
from pipeline.publish.modelcard import CardInputs, DatasetFile, render_card
from pipeline.results.page import render_html
from pipeline.results.readme import render_readme
from pipeline.results.scan import scan_results
from pipeline.results.values import wandb_link
from pipeline.train.axolotl import TrainResult
from tests.support.hostile import OWN_LINKS, PLAIN, assert_inert, strings

EXAMPLES = 25


class Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)


def html_tags(page: str) -> list[str]:
    parser = Tags()
    parser.feed(page)
    return parser.tags


def write_results(folder: Path, text: Callable[[], str]) -> None:
    """Two configs' results files, and an unreadable one with a hostile name, by the pipeline's writer."""
    folder.mkdir(parents=True, exist_ok=True)
    for number in (1, 2):
        name = f"jokes-{number:03d}"
        doc = ResultsDoc.model_validate({
            "config": {"name": name, "learning_rate": text(), f"chat_template_kwargs.{text()}": text(),
                       "default_system_message": text()},
            "results": [{"prompt": text(), "settingsResults": [{"temperature": 0.7, "completions": [text()]}]}],
            "meta": {"base_model": text(), "hub_repo": text(), "wandb_run": text(), "finished": "2026-01-01T00:00:00",
                     "hyperparameters": {text(): text()}},
            "evals": {text(): {"kind": text(), "metrics": {text(): 0.5}}},
        })
        (folder / f"{name}.json").write_text(dumps_results(doc))
    broken = text().replace("/", "").replace("\0", "")[:100] or PLAIN
    (folder / f"{broken}.json").write_text("{")


def summary_outcome(results: Path, text: Callable[[], str]) -> Outcome:
    outcome = Outcome(text(), error=text() + "\n" + text())
    outcome.record(StageName.TRAIN, StageResult(StageStatus.TRAINED, TrainResult(
        TrainRecord(config_sha256="a" * 64, finished="2026-01-01T00:00:00+00:00", seconds=1.0, steps=1,
                    losses=[1.0], loss_steps=[1], samples=[TrainingSample(step=1, index=1, prompt=text(),
                                                                           generated=text())]),
        False, (), Path("run"), (text(),))))
    outcome.record(StageName.EVALUATE, StageResult(StageStatus.EVALUATED, EvalOutcome(
        results / "jokes-001.json", None, (Sample(text(), 0.7, text(), text()),), before=text())))
    return outcome


def validation_report(text: Callable[[], str]) -> dict:
    return {"summary": {"configs": 1, "errors": 1, "warnings": 0},
            "problems": [{"file": text(), "line": 3, "key": text(), "severity": "error", "message": text()}],
            "datasets": [{"config": text(), "file": text(), "rows": 1, "duplicates": 0, "too_long": None}]}


def card(text: Callable[[], str]) -> CardInputs:
    return CardInputs(
        repo_id=text(), basename=text(), base_model=text(), config_sha256=text(),
        effective_config={text(): text(), "nested": {text(): [text(), text()]}},
        datasets=(DatasetFile(text(), 3),), license=text(),
        wandb=WandbRef(text(), text(), entity="haha-team", run_id=text()), results_path=text(),
        source_repo_url="https://github.com/haha-lab/haha", parent=AdapterRef(basename=text(), repo_id=text(),
                                                                              revision="a" * 40))


SINKS = ("readme", "index.html", "job summary", "validation summary", "model card")


def render(sink: str, folder: Path, text: Callable[[], str]) -> str:
    if sink in ("readme", "index.html", "job summary"):
        write_results(folder, text)
    if sink == "readme":
        return render_readme(scan_results(folder))
    if sink == "index.html":
        return render_html(scan_results(folder))
    if sink == "job summary":
        return markdown_summary([summary_outcome(folder, text)])
    if sink == "validation summary":
        return validation_markdown(validation_report(text))
    return render_card(card(text)).split("\n---\n", 1)[1]


@pytest.mark.parametrize("sink", SINKS)
def test_hostile_strings_reach_every_sink_inert(tmp_path: Path, sink: str) -> None:
    plain = render(sink, tmp_path / "plain", strings(None))
    for example in range(EXAMPLES):
        made = render(sink, tmp_path / f"hostile-{example}", strings(random.Random(f"{sink}-{example}")))
        if sink == "index.html":
            assert html_tags(made) == html_tags(plain)
            data = made.split('<script type="application/json" id="haha-data">')[1].split("</script>")[0]
            payload = json.loads(data, parse_constant=lambda name: pytest.fail(name))
            links = [entry[kind]["url"] for entry in payload["configs"] for kind in ("hub", "wandb")
                     if entry[kind] and entry[kind]["url"]]
            assert all(url.startswith(OWN_LINKS) for url in links), links
        else:
            assert_inert(made, plain)


def test_the_model_cards_front_matter_stays_the_hubs() -> None:
    for example in range(EXAMPLES):
        made = render_card(card(strings(random.Random(f"front matter {example}"))))
        front = yaml.safe_load(made.split("\n---\n", 1)[0].removeprefix("---\n"))
        assert set(front) <= {"base_model", "library_name", "license", "tags", "pipeline_tag", "datasets"}


@pytest.mark.parametrize(("value", "escaped"), [
    ("[x](https://evil.example)", "\\[x\\](https\\://evil.example)"),
    ("# h", "\\# h"),
    ("1. item", "1\\. item"),
    ("-0.5", "-0.5"),
    ("a\nb | c", "a b \\| c"),
    ("<img src=x>", "&lt;img src=x>"),
    ("www.evil.example and a@b.example", "www\\.evil.example and a\\@b.example"),
])
def test_cell_escapes_exactly_the_markup(value: str, escaped: str) -> None:
    assert cell(value) == escaped


def test_code_and_fences_outlast_any_backticks_inside() -> None:
    assert code("a``b") == "```a``b```"
    assert code("`x`") == "`` `x` ``"
    assert fenced("x\n```\n# y").startswith("````\n") and fenced("x\n```\n# y").endswith("\n````")


@pytest.mark.parametrize(("run", "url"), [
    ("team/haha/abc123", "https://wandb.ai/team/haha/runs/abc123"),
    ("https://wandb.ai/team/haha/runs/abc123", "https://wandb.ai/team/haha/runs/abc123"),
    ("https://wandb.ai/team/haha/runs/abc123) ![x](https://evil.example/i.png", None),
    ("https://wandb.ai.evil.example/x/y/runs/z", None),
    ("team/haha/abc123\n", None),
    ("team/ha ha/abc", None),
    ("haha-x-001", None),
])
def test_only_a_wandb_run_path_becomes_a_link(run: str, url: str | None) -> None:
    link = wandb_link(run)
    assert link is not None and link.url == url
