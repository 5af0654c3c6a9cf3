"""People's ratings without a browser: the session and its server over real HTTP and real files (two tabs, two
raters), `haha validate` on bad ratings files, the human figures, the index's human column and
`haha pairs-from-ratings`. The page itself is driven in Chromium by test_ratings_browser.py."""

from __future__ import annotations

import json
import os
import subprocess
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from pipeline.formats.results import ResultsDoc, load_results
from pipeline.ratings.cells import Vote, cells_of, completion_at, counted_votes
from pipeline.ratings.figures import MIN_VOTES, agreement, human_score, kendall_tau_b
from pipeline.ratings.files import check_ratings, read_ratings, results_docs
from pipeline.ratings.lines import Rating, RatingLine, ratings_folder
from pipeline.ratings.pairs import DEFAULT_SYSTEM, preference_pairs
from pipeline.ratings.server import RatingServer, open_rating
from pipeline.ratings.store import RaterBusy
from pipeline.results.entries import Sources
from pipeline.results.page import index_payload
from pipeline.results.readme import render_readme
from pipeline.results.scan import scan_results
from tests.support.haha_cli import HAHA, copy_repo
from tests.support.sample_ratings import JUDGE, every_cell, results_folder, vote, write_ratings
from tests.support.sample_results import CAPTION, PROMPTS, picture_doc, results_doc, write_doc
from tests.support.vision import draw_cartoons

CONFIGS = ("haha-a-001", "haha-b-001")


@contextmanager
def serving(results: Path, rater: str, names: tuple[str, ...] = CONFIGS) -> Iterator[RatingServer]:
    """`haha rate`'s server for `rater` in a thread, on a free port."""
    docs = {name: load_results(results / f"{name}.json") for name in names}
    running = open_rating(rater, docs, ratings_folder(results), None, 0, results.parent / "data")
    thread = threading.Thread(target=running.server.serve_forever, daemon=True)
    thread.start()
    try:
        yield running
    finally:
        running.server.shutdown()
        thread.join()
        running.close()


def call(url: str, body: dict[str, Any] | None = None, **headers: str) -> tuple[int, dict[str, Any]]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json", **headers}
                                     if body is not None else headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def rate_until_done(url: str, rating: int, log: list[tuple[str, int]]) -> None:
    """A tab that votes on whatever the page shows until nothing is left."""
    while (item := call(url + "api/next")[1]["item"]) is not None:
        status, _ = call(url + "api/vote", {"item": item["id"], "rating": rating})
        log.append((item["id"], status))


def lines_of(path: Path) -> list[RatingLine]:
    return [RatingLine.model_validate_json(line) for line in path.read_text().splitlines()]


# ---- the session and its server ----

def test_identical_completions_are_one_item_and_a_restart_goes_on_where_it_stopped(tmp_path: Path) -> None:
    folder = tmp_path / "train" / "results"
    folder.mkdir(parents=True)
    write_doc(folder, "haha-a-001", results_doc("haha-a-001", repeat_cold=True))  # seeds 1 and 2 alike when cold
    with serving(folder, "alice", ("haha-a-001",)) as running:
        url = running.url
        first = call(url + "api/next")[1]
        assert first["progress"] == {"rated": 0, "skipped": 0, "total": 10}  # 12 cells, 2 pairs of twins
        assert set(first["item"]) == {"id", "prompt", "text", "flag", "picture", "noPicture"}  # blind: no config,
        # setting or seed
        assert first["item"]["picture"] is None and first["item"]["noPicture"] is None  # a text prompt
        shown = []
        for rating in (3, None, 1):
            item = call(url + "api/next")[1]["item"]
            shown.append(item["id"])
            assert call(url + "api/vote", {"item": item["id"], "rating": rating})[0] == 200
    assert [line.rating for line in lines_of(folder.parent / "ratings" / "alice.jsonl")] == [3, None, 1]
    with serving(folder, "alice", ("haha-a-001",)) as running:
        state = call(running.url + "api/next")[1]
        assert state["progress"] == {"rated": 2, "skipped": 1, "total": 10}
        assert state["item"]["id"] not in shown
        rate_until_done(running.url, 2, log := [])
    ids = shown + [item for item, _ in log]
    assert len(ids) == len(set(ids)) == 10
    cells = [line.cell for line in lines_of(folder.parent / "ratings" / "alice.jsonl")]
    assert len(cells) == len(set(cells)) == 12  # every cell once: a twin's one vote is written for both its cells


def test_two_tabs_of_one_rater_never_vote_twice_on_a_completion(tmp_path: Path) -> None:
    results = results_folder(tmp_path, CONFIGS)
    with serving(results, "alice") as running:
        logs: list[list[tuple[str, int]]] = [[], []]
        tabs = [threading.Thread(target=rate_until_done, args=(running.url, 2, log)) for log in logs]
        for tab in tabs:
            tab.start()
        for tab in tabs:
            tab.join()
    accepted = [item for log in logs for item, status in log if status == 200]
    refused = [item for log in logs for item, status in log if status == 409]
    assert sorted(accepted) == sorted(set(accepted)) and len(accepted) == 24
    assert set(refused) <= set(accepted)  # a refused vote is one the other tab had just cast
    written = lines_of(ratings_folder(results) / "alice.jsonl")
    assert len({line.cell for line in written}) == len(written) == 24


def test_two_raters_at_once_each_write_only_their_own_file(tmp_path: Path) -> None:
    results = results_folder(tmp_path, CONFIGS)
    with serving(results, "alice") as alice, serving(results, "bob") as bob:
        with pytest.raises(RaterBusy, match="open in another `haha rate`"):
            open_rating("alice", {}, ratings_folder(results), None, 0, results.parent / "data")
        logs: list[list[tuple[str, int]]] = [[], [], [], []]
        tabs = [threading.Thread(target=rate_until_done, args=(url, rating, log))
                for (url, rating), log in zip([(alice.url, 3), (alice.url, 3), (bob.url, 1), (bob.url, 1)], logs,
                                              strict=True)]
        for tab in tabs:
            tab.start()
        for tab in tabs:
            tab.join()
    for rater, rating in (("alice", Rating.FUNNY), ("bob", Rating.UNFUNNY)):
        written = lines_of(ratings_folder(results) / f"{rater}.jsonl")
        assert len({line.cell for line in written}) == len(written) == 24
        assert {line.rater for line in written} == {rater} and {line.rating for line in written} == {rating}
    assert check_ratings(ratings_folder(results), results, str) == []


def test_the_server_takes_votes_only_from_its_own_page(tmp_path: Path) -> None:
    results = results_folder(tmp_path, CONFIGS)
    with serving(results, "alice") as running:
        item = call(running.url + "api/next")[1]["item"]["id"]
        assert call(running.url + "api/next", Host="evil.example")[0] == 403  # DNS rebinding: another name
        assert call(running.url + "api/vote", {"item": item, "rating": 3}, Origin="http://evil.example")[0] == 403
        request = urllib.request.Request(running.url + "api/vote", data=b"item=x&rating=3")  # a cross-site form
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(request, timeout=30)
        assert refused.value.code == 415
        assert call(running.url + "api/vote", {"item": item, "rating": 4}) == (
            400, {"error": "a rating is 1 (unfunny), 2 (somewhat funny), 3 (funny) or null (skip)"})
        assert call(running.url + "api/vote", {"item": "no-such-item", "rating": 3})[0] == 409
    assert not (ratings_folder(results) / "alice.jsonl").exists()  # nothing voted: no empty file left behind


# ---- haha validate ----

def test_bad_ratings_get_an_error_at_their_file_and_line(tmp_path: Path) -> None:
    root = copy_repo(tmp_path)
    results = results_folder(root, CONFIGS)
    ratings = ratings_folder(results)
    forged = vote("mallory", "haha-a-001", 0, 0, 1, Rating.FUNNY).model_copy(
        update={"completion_sha256": "f" * 64})
    unknown = vote("mallory", "haha-a-001", 0, 0, 1, Rating.FUNNY).model_copy(update={"config": "haha-zzz-001"})
    good = vote("mallory", "haha-b-001", 1, 1, 2, Rating.UNFUNNY)
    four = good.model_dump(mode="json") | {"rating": 4, "seed": 3}
    stale = vote("mallory", "haha-b-001", 0, 1, 3, Rating.FUNNY).model_copy(update={"config_sha256": "1" * 64})
    (ratings / "mallory.jsonl").parent.mkdir(parents=True)
    (ratings / "mallory.jsonl").write_text("".join([forged.to_line(), unknown.to_line(), good.to_line(),
                                                    json.dumps(four) + "\n", good.to_line(), stale.to_line()]))
    html = "<img src=x onerror=alert(1)>"
    write_ratings(ratings, "bob", [vote("bob", "haha-a-001", 0, 0, 1, Rating.FUNNY)])
    (ratings / "bob.jsonl").write_text((ratings / "bob.jsonl").read_text().replace('"bob"', json.dumps(html)))
    (ratings / f"{html}.jsonl").write_text(vote("bob", "haha-a-001", 0, 0, 2, Rating.FUNNY).to_line())
    (ratings / "notes.txt").write_text("hello")
    done = subprocess.run([HAHA, "validate", "train/ratings"], cwd=root, env={**os.environ, "HAHA_ROOT": str(root)},
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 1
    out = done.stdout.replace("\n", " ")  # rich wraps long lines at the terminal width
    m = "train/ratings/mallory.jsonl"
    for expected in (
        f"{m}:1: completion_sha256: haha-a-001's completion at this prompt, setting and seed has another sha256",
        f"{m}:2: completion_sha256: no results file for haha-zzz-001",
        f"{m}:4: rating: Input should be 1, 2 or 3",
        f"{m}:5: completion_sha256: mallory already voted on this completion at line 3",
        f"{m}:6: config_sha256: warning: rated haha-b-001 at config hash 111111111111",
        "train/ratings/bob.jsonl:1: rater: Value error, not a rater name",
        f"train/ratings/{html}.jsonl: rater: '{html}' is not a rater name",
        "train/ratings/notes.txt: path: the ratings folder holds <rater>.jsonl files and a README.md only",
    ):
        assert " ".join(expected.split()) in " ".join(out.split()), (expected, done.stdout)
    assert "mallory.jsonl:3:" not in out


# ---- figures ----

def counted(lines: list[RatingLine]) -> list[Vote]:
    return counted_votes(lines, {"haha-a-001": ResultsDoc.model_validate(results_doc("haha-a-001"))})


def test_human_scores_need_20_votes_and_agreement_orders_configs() -> None:
    few = [vote("alice", "haha-a-001", 0, 0, k, Rating.FUNNY) for k in (1, 2, 3)]
    assert human_score([]).mean is None and human_score(counted(few)).n == 3
    assert human_score(counted(few)).mean is None
    many = counted(every_cell("alice", "haha-a-001", Rating.FUNNY) + every_cell("bob", "haha-a-001", Rating.UNFUNNY))
    score = human_score(many)
    assert (score.n, score.prompts, score.raters, score.mean) == (24, 2, ("alice", "bob"), 2.0)
    assert score.interval == (2.0, 2.0)  # both prompts have mean 2: resampling prompts cannot move it

    assert kendall_tau_b([1, 2, 3, 4], [10, 20, 30, 40]) == 1.0
    assert kendall_tau_b([1, 2, 3, 4], [40, 30, 20, 10]) == -1.0
    assert kendall_tau_b([1, 2, 3, 4], [10, 20, 40, 30]) == pytest.approx(4 / 6)
    assert kendall_tau_b([1, 1], [1, 2]) is None
    people = {"a": 1.0, "b": 2.0, "c": 3.0, "d": 2.5}
    same = agreement("reward", people, {"a": 0.1, "b": 0.2, "c": 0.4, "d": 0.3})
    assert (same.pairs, same.agreeing, same.tau) == (6, 6, 1.0)
    swapped = agreement("reward", people, {"a": 0.1, "b": 0.2, "c": 0.4, "d": 0.45})
    assert (swapped.pairs, swapped.agreeing, swapped.share) == (6, 5, 5 / 6)
    assert swapped.tau == pytest.approx(4 / 6)
    three = agreement("reward", {"a": 1.0, "b": 2.0, "c": 3.0}, {"a": 0.1, "b": 0.2, "c": 0.1})
    assert (three.pairs, three.agreeing, three.tau) == (2, 1, None)  # a-c is a tie to the judge; τ needs 4


# ---- the index ----

def test_the_index_shows_the_human_column_preferences_and_agreement_with_the_reward_judge(tmp_path: Path) -> None:
    names = ("haha-a-001", "haha-b-001", "haha-c-001", "haha-d-001", "haha-e-001")
    results = results_folder(tmp_path, names, {"haha-a-001": 0.1, "haha-b-001": 0.2, "haha-c-001": 0.4,
                                               "haha-d-001": 0.45, "haha-e-001": 0.9})
    ratings = ratings_folder(results)
    levels = {"haha-a-001": [Rating.UNFUNNY], "haha-b-001": [Rating.SOMEWHAT_FUNNY], "haha-c-001": [Rating.FUNNY],
              "haha-d-001": [Rating.SOMEWHAT_FUNNY, Rating.FUNNY]}
    for rater in ("alice", "bob"):
        lines = [line.model_copy(update={"rating": levels[name][i % len(levels[name])]})
                 for name in levels for i, line in enumerate(every_cell(rater, name, Rating.FUNNY))]
        lines.append(vote(rater, "haha-e-001", 0, 0, 1, Rating.FUNNY))  # one vote: no score for haha-e
        write_ratings(ratings, rater, lines)
    read = read_ratings(ratings, lambda path: path.relative_to(results.parent).as_posix())
    scan = scan_results(results, Sources(ratings=read))
    readme = render_readme(scan)
    assert "| human (1-3) |" in readme
    assert "| 1.00 (1.00 … 1.00), n=24 |" in readme and "| 2 votes: fewer than 20, no score yet |" in readme
    assert "agreement with the reward judge haha-rm-001 at 1234567890ab: 5 of 6 config pairs in the same order " \
           "(83%); Kendall's τ 0.67 over 4 configs" in readme
    assert "| haha-a-001 | haha-c-001 | 0% (0% … 0%) of 2 prompts |" in readme  # each pair once
    payload = index_payload(scan)
    by_name = {config["name"]: config["human"] for config in payload["configs"]}
    assert by_name["haha-d-001"]["mean"] == 2.5 and by_name["haha-e-001"]["mean"] is None
    assert by_name["haha-a-001"]["preferred"]["haha-e-001"] == f"no figure: each needs {MIN_VOTES} votes"
    assert payload["human"]["raters"] == ["alice", "bob"] and payload["human"]["votes"] == 98
    assert JUDGE.basename in payload["human"]["agreements"][0]["judge"]
    assert render_readme(scan_results(results)).count("human") == 0  # no ratings: no human column


# ---- preference pairs ----

def test_pairs_from_a_hand_written_ratings_file(tmp_path: Path) -> None:
    root = copy_repo(tmp_path)
    results = results_folder(root, CONFIGS)
    a, b = "haha-a-001", "haha-b-001"
    write_ratings(ratings_folder(results), "alice", [
        vote("alice", a, 0, 0, 1, Rating.FUNNY), vote("alice", b, 0, 0, 1, Rating.UNFUNNY),
        vote("alice", a, 0, 1, 2, Rating.SOMEWHAT_FUNNY), vote("alice", b, 0, 1, 1, None),  # a skip makes no pair
        vote("alice", a, 1, 0, 1, Rating.SOMEWHAT_FUNNY), vote("alice", b, 1, 0, 1, Rating.SOMEWHAT_FUNNY),
    ])
    write_ratings(ratings_folder(results), "bob", [
        vote("bob", a, 0, 0, 1, Rating.UNFUNNY),  # with alice's 3: a's joke is 2.0 on average
        vote("bob", b, 1, 0, 1, Rating.FUNNY),  # with alice's 2: 2.5, above a's 2 on the second prompt
    ])
    joke = "{} joke {}.{}.{}".format
    expected = [
        {"system": DEFAULT_SYSTEM, "input": PROMPTS[0], "chosen": joke(a, 0, 0, 1), "rejected": joke(b, 0, 0, 1)},
        {"system": DEFAULT_SYSTEM, "input": PROMPTS[0], "chosen": joke(a, 0, 1, 2), "rejected": joke(b, 0, 0, 1)},
        {"system": DEFAULT_SYSTEM, "input": PROMPTS[1], "chosen": joke(b, 1, 0, 1), "rejected": joke(a, 1, 0, 1)},
    ]
    read = read_ratings(ratings_folder(results), str)
    assert preference_pairs(counted_votes(read.lines, results_docs(results, CONFIGS))) == expected
    done = subprocess.run([HAHA, "pairs-from-ratings", "haha-prefs-rated"], cwd=root,
                          env={**os.environ, "HAHA_ROOT": str(root)}, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "wrote 3 pairs from 7 votes by 2 raters on 2 prompts to train/data/haha-prefs-rated.jsonl; 1 line not " \
           "counted" in " ".join(done.stdout.split())
    written = (root / "train" / "data" / "haha-prefs-rated.jsonl").read_text().splitlines()
    assert [json.loads(line) for line in written] == expected


def test_a_caption_question_over_several_pictures_is_rated_per_picture(tmp_path: Path) -> None:
    data = tmp_path / "data"
    draw_cartoons().write_all(data)
    pictures = sorted(path.relative_to(data).as_posix() for path in (data / "cartoons").glob("*.png"))[:2]
    doc = ResultsDoc.model_validate(picture_doc("cartoons-001", data, pictures))
    cells = cells_of("cartoons-001", doc)
    assert sorted({cell.prompt for cell in cells}) == [f"{CAPTION} [image: {picture}]" for picture in pictures]
    second = cells[-1]
    assert completion_at(doc, second.prompt, second.setting, second.seed) == second.text
    assert completion_at(doc, CAPTION, second.setting, second.seed) is None  # the text alone names no picture
