"""The commit job gathering the matrix jobs' uploads: each config's results once, base references first-wins,
a bad upload left out alone, and nothing copied when two jobs disagree about one config."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.formats.results import ConfigBlock, ResultsDoc, dumps_results
from pipeline.gitops.collect import MAX_FILES_PER_UPLOAD, CollectError, collect_results


def results_text(name: str, completion: str = "A pun.") -> str:
    """A results file as the pipeline writes it (its own model and writer)."""
    return dumps_results(ResultsDoc.model_validate({
        "config": ConfigBlock(name=name).model_dump(), "results": [
            {"prompt": "It was hot.", "settingsResults": [{"temperature": 0.7, "completions": [completion]}]}]}))


ONE, TWO = results_text("jokes-001"), results_text("jokes-002")
REF_A, REF_B = results_text("jokes-001", "made by a"), results_text("jokes-001", "made by b")


def upload(root: Path, name: str, files: dict[str, str | bytes]) -> Path:
    folder = root / name
    for relative, content in files.items():
        (folder / relative).parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            (folder / relative).write_bytes(content)
        else:
            (folder / relative).write_text(content)
    return folder


def test_each_upload_lands_and_a_shared_base_reference_once(tmp_path: Path) -> None:
    results = tmp_path / "results"
    first = upload(tmp_path, "results-jokes-001", {"jokes-001.json": ONE, "base/llama-eval.json": REF_A})
    second = upload(tmp_path, "results-jokes-002", {"jokes-002.json": TWO, "base/llama-eval.json": REF_B,
                                    "base/other.json.partial.jsonl": "{}"})  # a cut-off eval's sidecar: skipped
    collected = collect_results([first, second], results)
    assert sorted(collected.copied) == ["base/llama-eval.json", "jokes-001.json", "jokes-002.json"]
    assert collected.duplicate_base == ["base/llama-eval.json"] and collected.refused == []
    assert (results / "base" / "llama-eval.json").read_text() == REF_A
    assert (results / "jokes-002.json").read_text() == TWO
    assert not (results / "base" / "other.json.partial.jsonl").exists()


def test_two_different_copies_of_one_config_are_refused_before_anything_is_copied(tmp_path: Path) -> None:
    results = tmp_path / "results"
    first = upload(tmp_path / "a", "results-jokes-001", {"jokes-001.json": ONE})
    second = upload(tmp_path / "b", "results-jokes-001", {"jokes-001.json": results_text("jokes-001", "another")})
    with pytest.raises(CollectError, match=r"jokes-001\.json was uploaded by two jobs with different contents"):
        collect_results([first, second], results)
    assert not results.exists()
    again = upload(tmp_path / "c", "results-jokes-001", {"jokes-001.json": ONE})
    assert collect_results([first, again], results).copied == [
        "jokes-001.json"]  # the same bytes twice (a wave job re-uploading an earlier wave's file) are one file


@pytest.mark.parametrize(("files", "why"), [
    ({"README.md": "x"},
     "README.md is not this job's results (jokes-003.json, jokes-003.failed.json or base/<name>.json)"),
    ({"notes/jokes-003.json": "x"}, "notes/jokes-003.json is not this job's results"),
    ({"not a config.json": "x"}, "not a config.json is not this job's results"),
    ({"base/x/y.json": "x"}, "base/x/y.json is not this job's results"),
    ({"jokes-001.json": ONE}, "jokes-001.json is not this job's results"),  # another config's file
    ({"jokes-003.json": ONE}, "jokes-003.json holds the results of 'jokes-001', not 'jokes-003'"),
    ({"jokes-003.json": results_text("jokes-003").replace('"config": {', '"config": {"name": "x", ', 1)},
     "jokes-003.json is not a readable results file: jokes-003.json: name: 'name' is written twice"),
    ({"jokes-003.json": results_text("jokes-003").replace('"temperature": 0.7', '"temperature": NaN')},
     "jokes-003.json is not a readable results file: jokes-003.json: results[0].settingsResults[0].temperature: "
     "NaN is not a finite number"),
    ({f"base/ref-{i}.json": REF_A for i in range(MAX_FILES_PER_UPLOAD + 1)},
     f"it holds {MAX_FILES_PER_UPLOAD + 1} files; a job uploads at most {MAX_FILES_PER_UPLOAD}"),
    ({"jokes-003.json": b"not json \x00\xff"}, "jokes-003.json is not a readable results file"),
    ({"jokes-003.json": "this is not json"}, "jokes-003.json is not a readable results file"),
])
def test_a_bad_upload_is_left_out_alone_and_named(tmp_path: Path, files: dict[str, str | bytes], why: str) -> None:
    good = upload(tmp_path, "results-jokes-001", {"jokes-001.json": ONE})
    bad = upload(tmp_path, "results-jokes-003", files)
    collected = collect_results([good, bad], tmp_path / "results")
    assert collected.copied == ["jokes-001.json"]
    [refused] = collected.refused
    assert refused.startswith(f"{bad}: {why}")


def test_a_linked_file_is_left_out(tmp_path: Path) -> None:
    bad = upload(tmp_path, "results-jokes-003", {})
    bad.mkdir()
    (bad / "jokes-003.json").symlink_to(upload(tmp_path, "elsewhere", {"jokes-003.json": ONE}) / "jokes-003.json")
    assert collect_results([bad], tmp_path / "results").refused == [f"{bad}: jokes-003.json is a link"]


def test_an_upload_not_named_for_its_config_is_left_out(tmp_path: Path) -> None:
    bad = upload(tmp_path, "stray", {"jokes-001.json": ONE})
    assert collect_results([bad], tmp_path / "results").refused == [
        f"{bad}: the upload is not named results-<config>"]


def test_a_committed_reference_is_never_replaced(tmp_path: Path) -> None:
    """A base reference already in train/results stays as committed; a job's changed copy is named, not copied."""
    results = tmp_path / "results"
    (results / "base").mkdir(parents=True)
    (results / "base" / "llama-eval.json").write_text(REF_A)
    job = upload(tmp_path, "results-jokes-001", {"jokes-001.json": ONE, "base/llama-eval.json": REF_B})
    collected = collect_results([job], results)
    assert collected.copied == ["jokes-001.json"] and collected.refused == []
    assert collected.kept_committed == [f"base/llama-eval.json (from {job})"]
    assert (results / "base" / "llama-eval.json").read_text() == REF_A
