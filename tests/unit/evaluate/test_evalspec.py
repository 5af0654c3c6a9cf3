"""eval.json: prompts, generation settings and seed count, each mistake at its line."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from pipeline.core.problems import Problem
from pipeline.evaluate.spec import PROMPT_SHAPES, EvalSpec, check_eval, load_eval
from tests.support.paths import REPO

GOOD = {"prompts": ["It was 100 degrees today.", "My landlord fixed the sink."],
        "settings": [{"temperature": 0}, {"temperature": 0.9, "top_p": 0.95, "top_k": 40, "max_new_tokens": 32,
                                          "repetition_penalty": 1.1}],
        "seedVariants": 3}


def problems_for(tmp_path: Path, spec: Any) -> list[tuple[int | None, str, str]]:
    path = tmp_path / "eval.json"
    path.write_text(json.dumps(spec, indent=2))
    parsed, problems = check_eval(path, "train/eval/eval.json")
    assert (parsed is None) == bool(problems)
    assert {p.file for p in problems} <= {"train/eval/eval.json"}
    return [(p.line, p.key, p.message) for p in problems]


def line_containing(tmp_path: Path, text: str) -> int:
    lines = (tmp_path / "eval.json").read_text().splitlines()
    return next(n for n, line in enumerate(lines, start=1) if text in line)


def test_a_good_spec_and_its_seeds(tmp_path: Path) -> None:
    assert problems_for(tmp_path, GOOD) == []
    spec = load_eval(tmp_path / "eval.json")
    assert spec.seeds == [1, 2, 3]
    assert [s.as_dict() for s in spec.settings] == GOOD["settings"]
    assert json.dumps(spec.settings[0].as_dict()) == '{"temperature": 0}'  # echoed in results as written


def test_the_repos_eval_json_is_valid() -> None:
    spec, problems = check_eval(REPO / "train" / "eval" / "eval.json", "train/eval/eval.json")
    assert problems == []
    assert isinstance(spec, EvalSpec) and spec.prompts


@pytest.mark.parametrize(("change", "at", "key", "message"), [
    ({"prompts": []}, '"prompts"', "prompts", "List should have at least 1 item after validation, not 0"),
    ({"prompts": ["fine", "  "]}, '"  "', "prompts[1]", "prompt is blank"),
    ({"prompts": ["fine", 7]}, "7", "prompts[1]", PROMPT_SHAPES),
    ({"settings": []}, '"settings"', "settings", "List should have at least 1 item after validation, not 0"),
    ({"seedVariants": 0}, '"seedVariants"', "seedVariants", "Input should be greater than or equal to 1"),
    ({"seedVariants": 1.5}, '"seedVariants"', "seedVariants", "Input should be a valid integer"),
    ({"seedVariants": "3"}, '"seedVariants"', "seedVariants", "Input should be a valid integer"),
    ({"seedVariants": True}, '"seedVariants"', "seedVariants", "Input should be a valid integer"),
])
def test_prompts_and_seed_variants(tmp_path: Path, change: dict[str, Any], at: str, key: str, message: str) -> None:
    spec = {"prompts": ["fine"], "settings": [{"temperature": 0.1}], "seedVariants": 2, **change}
    assert problems_for(tmp_path, spec) == [(line_containing(tmp_path, at), key, message)]


@pytest.mark.parametrize(("setting", "key", "message"), [
    ({"temperature": -0.1}, "temperature", "Input should be greater than or equal to 0"),
    ({"temperature": "0.7"}, "temperature", "Input should be a number"),
    ({"temperature": True}, "temperature", "Input should be a number"),
    ({"temperature": 0.7, "top_k": "40"}, "top_k", "Input should be a valid integer"),
    ({"top_p": 0.9}, "temperature", "Field required"),
    ({"temperature": 0.7, "top_p": 1.5}, "top_p", "Input should be less than or equal to 1"),
    ({"temperature": 0.7, "max_new_tokens": 0}, "max_new_tokens", "Input should be greater than or equal to 1"),
    ({"temperature": 0.7, "do_sample": True}, "do_sample",
     "unknown key; allowed: temperature, top_p, top_k, max_new_tokens, repetition_penalty"),
])
def test_settings_objects(tmp_path: Path, setting: dict[str, Any], key: str, message: str) -> None:
    """Each mistake points at the second settings object, which sits alone on line 3."""
    path = tmp_path / "eval.json"
    path.write_text(f'{{"prompts": ["fine"],\n "settings": [{{"temperature": 0.1}},\n  {json.dumps(setting)}],\n'
                    ' "seedVariants": 2}\n')
    assert check_eval(path, "eval.json")[1] == [Problem("eval.json", 3, f"settings[1].{key}", message)]


def test_unknown_top_level_keys(tmp_path: Path) -> None:
    assert problems_for(tmp_path, {**GOOD, "seed_variants": 3}) == [
        (line_containing(tmp_path, "seed_variants"), "seed_variants",
         "unknown key; allowed: prompts, settings, seedVariants, kind, configs")]


def test_files_that_are_not_a_spec(tmp_path: Path) -> None:
    path = tmp_path / "eval.json"
    assert check_eval(path, "eval.json") == (None, [Problem("eval.json", None, "eval.json", "file does not exist")])
    path.write_text('{"prompts": ["a"],\n "settings": [}\n')
    assert check_eval(path, "eval.json") == (None, [Problem("eval.json", 2, "eval.json", "not JSON: Expecting value")])
    path.write_text("[]")
    assert check_eval(path, "eval.json")[1] == [
        Problem("eval.json", None, "eval.json", "must be a JSON object with prompts, settings and seedVariants")]
    with pytest.raises(ValueError, match=re.escape(f"{path}: eval.json: must be a JSON object")):
        load_eval(path)
