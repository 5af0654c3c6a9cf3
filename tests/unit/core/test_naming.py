"""Config file naming: `<family>-NNN.yml`, numbers unique within a family, gaps reported. Pure: names only."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.core.naming import (
    ConfigName,
    basename_of,
    check_names,
    discover,
    family_of,
    is_basename,
    is_commit_id,
    is_hub_id,
    name_problem,
    parse_config_name,
    sort_key,
)
from pipeline.core.problems import Problem

BAD_NAME = ("'{}' is not <family>-NNN.yml (lower-case words joined by single '-' or '.', a three-digit number, "
            "extension .yml)")


@pytest.mark.parametrize(("name", "family", "number"), [
    ("haha-llama-3-8b-lora-001.yml", "haha-llama-3-8b-lora", 1),
    ("haha-llama-3.1-8b-lora-017.yml", "haha-llama-3.1-8b-lora", 17),
    ("jokes-999.yml", "jokes", 999),
])
def test_good_names_parse(name: str, family: str, number: int) -> None:
    assert parse_config_name(name) == ConfigName(family, number)
    assert ConfigName(family, number).basename == basename_of(name)


@pytest.mark.parametrize("name", [
    "jokes-002.yml.yaml", "jokes-2.yml", "jokes-0002.yml", "jokes-002.yaml", "Jokes-002.yml", "jokes002.yml",
    "jokes-002.YML", "-002.yml", "jokes-002.yml.bak",
    # a Hub repo name has no `..` or `--` and cannot end in `.`; an empty basename would be the whole workspace
    "a..b-001.yml", "a--b-001.yml", "jokes.-001.yml", ".yml", "-001.yml",
])
def test_bad_names_are_errors(name: str) -> None:
    assert parse_config_name(name) is None
    assert check_names([Path("train/config") / name]) == [
        Problem(f"train/config/{name}", None, "filename", BAD_NAME.format(name))]


def test_a_basename_longer_than_a_hub_repo_name_is_an_error() -> None:
    name = f"{'a' * 120}-001.yml"
    assert parse_config_name(name) is not None
    assert check_names([Path(name)]) == [Problem(name, None, "filename", f"'{'a' * 120}-001' is longer than 96 "
                                                 "characters, the Hub's limit for a repo name")]


def test_discovery_sees_every_yaml_file_validate_pending_and_run_judge(tmp_path: Path) -> None:
    for name in ("jokes-001.yml", ".yml", "jokes-002.yml.yaml", "notes.txt", "jokes-003.yaml"):
        (tmp_path / name).write_text("a: 1\n")
    assert sorted(p.name for p in discover(tmp_path)) == [".yml", "jokes-001.yml", "jokes-002.yml.yaml",
                                                          "jokes-003.yaml"]


def test_problems_use_the_display_paths() -> None:
    path = Path("/abs/train/config/jokes-2.yml")
    assert check_names([path], {path: "train/config/jokes-2.yml"})[0].file == "train/config/jokes-2.yml"


def test_a_number_used_twice_in_a_family_is_an_error_on_each_file() -> None:
    first, second = Path("a/jokes-001.yml"), Path("b/jokes-001.yml")
    message = "number 001 is used more than once in family 'jokes': a/jokes-001.yml, b/jokes-001.yml"
    assert check_names([first, second]) == [Problem("a/jokes-001.yml", None, "filename", message),
                                            Problem("b/jokes-001.yml", None, "filename", message)]


def test_a_misnamed_file_still_collides_with_the_number_it_meant() -> None:
    good, bad = Path("jokes-002.yml"), Path("jokes-2.yml")
    message = "number 002 is used more than once in family 'jokes': jokes-002.yml, jokes-2.yml"
    assert check_names([Path("jokes-001.yml"), good, bad]) == [
        Problem("jokes-2.yml", None, "filename", BAD_NAME.format("jokes-2.yml")),
        Problem("jokes-002.yml", None, "filename", message),
        Problem("jokes-2.yml", None, "filename", message),
    ]


def test_a_gap_is_a_warning_on_the_familys_first_file() -> None:
    paths = [Path(f"jokes-{n:03d}.yml") for n in (1, 2, 5, 6, 9)]
    assert check_names(paths) == [Problem("jokes-001.yml", None, "filename",
                                          "family 'jokes' skips 003-004, 007-008; numbers should be consecutive",
                                          "warning")]


def test_a_misnamed_file_fills_the_gap_it_was_meant_for() -> None:
    names = ["jokes-001.yml", "jokes-002.yml.yaml", "jokes-003.yml"]
    assert [p.severity for p in check_names([Path(n) for n in names])] == ["error"]


def test_families_are_numbered_independently() -> None:
    assert check_names([Path("a-001.yml"), Path("a-002.yml"), Path("b-003.yml"), Path("b-004.yml")]) == []


def test_family_of_names_the_family_a_file_was_meant_for() -> None:
    assert [family_of(n) for n in ("jokes-001.yml", "jokes-7.yaml", "notes.md")] == ["jokes", "jokes", None]


def test_numeric_order_within_a_family_and_misnamed_files_last() -> None:
    names = ["jokes-010.yml", "bad.yml", "jokes-009.yml", "apples-002.yml"]
    assert sorted(names, key=sort_key) == ["apples-002.yml", "jokes-009.yml", "jokes-010.yml", "bad.yml"]


@pytest.mark.parametrize("name", ["jokes-001.yml\n", "jokes-001.yml\r\n"])
def test_a_name_ending_in_a_newline_is_not_a_config_name(name: str) -> None:
    """`$` matches before a final newline; names end at `\\Z`, so the newline is part of the (bad) name."""
    assert parse_config_name(name) is None
    assert name_problem(Path(name)) is not None
    assert not is_basename("jokes-001\n")


@pytest.mark.parametrize("value", ["org/name\n", "name\n", "org/name\r\n"])
def test_a_hub_id_ending_in_a_newline_is_not_a_hub_id(value: str) -> None:
    assert not is_hub_id(value) and not is_hub_id(value, bare=True)
    assert not is_commit_id("0" * 40 + "\n")
    assert is_hub_id(value.strip(), bare=True)
