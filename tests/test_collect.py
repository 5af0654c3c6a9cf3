"""The commit job gathering the matrix jobs' uploads: each config's results once, base references first-wins,
and nothing copied when two jobs disagree about one config."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.gitops.collect import CollectError, collect_results


def upload(root: Path, name: str, files: dict[str, str]) -> Path:
    folder = root / name
    for relative, text in files.items():
        (folder / relative).parent.mkdir(parents=True, exist_ok=True)
        (folder / relative).write_text(text)
    return folder


def test_each_upload_lands_and_a_shared_base_reference_once(tmp_path: Path) -> None:
    results = tmp_path / "results"
    first = upload(tmp_path, "a", {"jokes-001.json": "one", "base/llama-eval.json": "ref as made by a"})
    second = upload(tmp_path, "b", {"jokes-002.json": "two", "base/llama-eval.json": "ref as made by b"})
    collected = collect_results([first, second], results)
    assert sorted(collected.copied) == ["base/llama-eval.json", "jokes-001.json", "jokes-002.json"]
    assert collected.duplicate_base == ["base/llama-eval.json"]
    assert (results / "base" / "llama-eval.json").read_text() == "ref as made by a"
    assert (results / "jokes-002.json").read_text() == "two"


def test_two_different_copies_of_one_config_are_refused_before_anything_is_copied(tmp_path: Path) -> None:
    results = tmp_path / "results"
    first = upload(tmp_path, "a", {"jokes-001.json": "one"})
    second = upload(tmp_path, "b", {"jokes-001.json": "another", "jokes-002.json": "two"})
    with pytest.raises(CollectError, match=r"jokes-001\.json was uploaded by two jobs with different contents"):
        collect_results([first, second], results)
    assert not results.exists()
    assert collect_results([first, upload(tmp_path, "c", {"jokes-001.json": "one"})], results).copied == [
        "jokes-001.json"]  # the same bytes twice (a wave job re-uploading an earlier wave's file) are one file


@pytest.mark.parametrize("relative", ["README.md", "notes/jokes-001.json", "not a config.json", "base/x/y.json"])
def test_an_upload_holding_anything_else_is_refused(tmp_path: Path, relative: str) -> None:
    with pytest.raises(CollectError, match="not a results file"):
        collect_results([upload(tmp_path, "a", {relative: "x"})], tmp_path / "results")
