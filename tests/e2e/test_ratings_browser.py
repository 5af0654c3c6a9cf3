"""The rating page in a real browser: Playwright drives the system Chromium (browser_page) on `haha rate`, run as
the command people run, killed and started again; the index's human figures on the page from disk.

Screenshots, and the time 30 keyboard ratings took, go under $HAHA_ARTIFACTS (else the test's tmp dir).
"""

from __future__ import annotations

import os
import select
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from pipeline.ratings.files import read_ratings
from pipeline.ratings.lines import Rating, RatingLine, ratings_folder
from pipeline.results.entries import Sources
from pipeline.results.rebuild import write_index
from tests.support.browser_page import chromium, opened, screenshot_path
from tests.support.haha_cli import HAHA
from tests.support.paths import REPO
from tests.support.sample_ratings import every_cell, results_folder, write_ratings
from tests.support.sample_results import picture_doc, results_doc, write_doc
from tests.support.vision import draw_cartoons

pytestmark = pytest.mark.slow

CONFIGS = ("haha-a-001", "haha-b-001", "haha-c-001")  # 36 completions, every text distinct
HTML = '<img src=x onerror="window.pwned=1">'


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as launched:
        yield launched


@pytest.fixture
def root(tmp_path: Path) -> Path:
    (tmp_path / "pyproject.toml").write_text((REPO / "pyproject.toml").read_text())
    results_folder(tmp_path, CONFIGS)
    return tmp_path


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def haha_rate(root: Path, rater: str, port: int, *configs: str) -> Iterator[subprocess.Popen[str]]:
    """`haha rate` as people start it, once it has printed its address; stopped with Ctrl-C's signal unless the
    test killed it first."""
    process = subprocess.Popen([HAHA, "rate", *configs, "--rater", rater, "--port", str(port)], cwd=root,
                               env={**os.environ, "HAHA_ROOT": str(root)}, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
    try:
        assert process.stdout is not None
        ready, _, _ = select.select([process.stdout], [], [], 60)
        line = process.stdout.readline() if ready else ""
        assert f"http://127.0.0.1:{port}/" in line, line + (process.stdout.read() if process.poll() is not None else "")
        yield process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            process.wait(timeout=30)


def shown(page: Page) -> tuple[str, str]:
    """The item on the page: its id, and its text."""
    card = page.locator("#card")
    return card.get_attribute("data-item") or "", page.locator("#text").inner_text()


def cast(page: Page, rating: int, by_mouse: bool, done: int, total: int) -> None:
    if by_mouse:
        page.locator(f"button[data-rating='{rating}']").click()
    else:
        page.keyboard.press(str(rating))
    expect(page.locator("#progress")).to_have_text(f"{done} of {total} rated")


def lines_of(path: Path) -> list[RatingLine]:
    return [RatingLine.model_validate_json(line) for line in path.read_text().splitlines()]


def test_ten_ratings_by_mouse_and_keyboard_survive_a_killed_server(browser: Browser, root: Path,
                                                                   tmp_path: Path) -> None:
    port, total = free_port(), len(CONFIGS) * 12
    ratings = [3, 1, 2, 2, 3, 1, 2, 3, 1, 3]
    rated: list[str] = []
    with haha_rate(root, "alice", port) as server, opened(browser, f"http://127.0.0.1:{port}/", 900, 700) as page:
        expect(page.locator("#progress")).to_have_text(f"0 of {total} rated")
        expect(page.locator("#rater")).to_have_text("rater: alice")
        for done, rating in enumerate(ratings[:6], start=1):
            rated.append(shown(page)[0])
            cast(page, rating, by_mouse=done % 2 == 1, done=done, total=total)
        waiting = shown(page)[0]
        server.kill()  # no goodbye: what a crash or a closed laptop does
        server.wait(timeout=30)
        page.keyboard.press("2")  # cast while the server is gone: said on the page, and not saved
        expect(page.locator("#status")).to_contain_text("did not answer")
        with haha_rate(root, "alice", port):
            page.reload()
            expect(page.locator("#progress")).to_have_text(f"6 of {total} rated")
            assert shown(page)[0] == waiting  # where it stopped
            for done, rating in enumerate(ratings[6:], start=7):
                rated.append(shown(page)[0])
                cast(page, rating, by_mouse=done % 2 == 1, done=done, total=total)
            assert shown(page)[0] not in rated
            shot = screenshot_path(tmp_path, "rate.png")
            page.screenshot(path=shot)
    assert shot.stat().st_size > 5_000
    assert len(set(rated)) == 10  # no completion shown again once voted on
    written = lines_of(ratings_folder(root / "train" / "results") / "alice.jsonl")
    assert [int(line.rating or 0) for line in written] == ratings  # each vote once, in order, none lost
    assert len({line.cell for line in written}) == 10


def test_thirty_ratings_by_keyboard(browser: Browser, root: Path, tmp_path: Path) -> None:
    """Measured, not asserted: the page and server's share of a rating session (a person reads for longer)."""
    port, total = free_port(), len(CONFIGS) * 12
    with haha_rate(root, "bob", port), opened(browser, f"http://127.0.0.1:{port}/", 900, 700) as page:
        expect(page.locator("#progress")).to_have_text(f"0 of {total} rated")
        start = time.perf_counter()
        for done in range(1, 31):
            cast(page, 1 + done % 3, by_mouse=False, done=done, total=total)
        seconds = time.perf_counter() - start
    note = f"30 ratings by keyboard in {seconds:.2f} s ({seconds / 30 * 1000:.0f} ms per rating, page and server)\n"
    (screenshot_path(tmp_path, "rate-30-keyboard.txt")).write_text(note)
    print(note)
    assert len(lines_of(ratings_folder(root / "train" / "results") / "bob.jsonl")) == 30


def test_markup_in_a_completion_or_a_rater_file_is_shown_as_text(browser: Browser, root: Path,
                                                                  tmp_path: Path) -> None:
    results = root / "train" / "results"
    doc = results_doc("haha-x-001")
    doc["results"][0]["settingsResults"][0]["completions"][0] = HTML
    write_doc(results, "haha-x-001", doc)
    port = free_port()
    with haha_rate(root, "carol", port, "haha-x-001"), opened(browser, f"http://127.0.0.1:{port}/") as page:
        for done in range(12):
            expect(page.locator("#progress")).to_contain_text("of 12 rated")
            if shown(page)[1] == HTML:
                break
            page.keyboard.press("s")
            expect(page.locator("#progress")).to_contain_text(f"{done + 1} skipped")
        assert shown(page)[1] == HTML
        expect(page.locator("#text img")).to_have_count(0)
        assert page.evaluate("window.pwned") is None

    ratings = ratings_folder(results)
    write_ratings(ratings, "dave", every_cell("dave", "haha-a-001", Rating.FUNNY))
    (ratings / f"{HTML}.jsonl").write_text(every_cell("dave", "haha-b-001", Rating.FUNNY)[0].to_line())
    write_index(results, Sources(ratings=read_ratings(ratings, lambda path: path.relative_to(root).as_posix())))
    readme = (results / "README.md").read_text()
    assert "<img" not in readme and f"train/ratings/&lt;{HTML[1:]}.jsonl: rater:" in readme  # markdown.cell's escape
    with opened(browser, (results / "index.html").as_uri() + "#select=haha-a-001,haha-b-001") as page:
        expect(page.locator("#not-counted")).to_contain_text(f"train/ratings/{HTML}.jsonl: rater:")
        expect(page.locator("#not-counted img")).to_have_count(0)
        assert page.evaluate("window.pwned") is None
        expect(page.locator("table.params td.human")).to_have_text(["12 votes: fewer than 20, no score yet", "—"])
        expect(page.locator("#picker td.human")).to_have_text(["12 votes (<20)", "—", "—", "—"])
        expect(page.locator("#agreements")).to_contain_text("no machine judge has scored the rated configs")
        shot = screenshot_path(tmp_path, "index-human.png")
        page.screenshot(path=shot, full_page=True)
    assert shot.stat().st_size > 10_000


def test_a_caption_is_rated_beside_its_picture_and_a_changed_picture_is_named(browser: Browser, root: Path,
                                                                              tmp_path: Path) -> None:
    data = root / "train" / "data"
    draw_cartoons().write_all(data)
    pictures = sorted(path.relative_to(data).as_posix() for path in (data / "cartoons").glob("*.png"))[:2]
    results = root / "train" / "results"
    doc = picture_doc("cartoons-x-001", data, pictures)
    doc["results"][1]["image_sha256"] = "0" * 64  # the second picture is not the one the captions were made from
    write_doc(results, "cartoons-x-001", doc)
    port = free_port()
    seen = {}
    shot = screenshot_path(tmp_path, "rate-caption.png")
    with haha_rate(root, "erin", port, "cartoons-x-001"), opened(browser, f"http://127.0.0.1:{port}/") as page:
        for done in range(12):  # 2 pictures x 2 settings x 3 seeds
            expect(page.locator("#progress")).to_contain_text("of 12 rated")
            prompt = page.locator("#prompt").inner_text()
            picture = page.locator("#picture")
            if picture.is_visible():
                assert (picture.get_attribute("src") or "").startswith("data:image/png;base64,")
                assert page.evaluate("document.getElementById('picture').naturalWidth") > 0  # decoded, not broken
                if "picture" not in seen:
                    page.screenshot(path=shot)
            seen.setdefault("picture" if picture.is_visible() else page.locator("#no-picture").inner_text(),
                            prompt)
            page.keyboard.press("s")
            expect(page.locator("#progress")).to_contain_text(f"{done + 1} skipped")
    assert seen["picture"].endswith(f"[image: {pictures[0]}]")
    changed = [shown for shown in seen if shown.startswith("picture changed:")]
    assert changed and seen[changed[0]].endswith(f"[image: {pictures[1]}]")
    assert shot.stat().st_size > 5_000
