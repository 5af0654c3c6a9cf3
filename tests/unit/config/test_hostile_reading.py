"""Files built to hurt the reader: alias bombs, self-references, deep nesting, odd keys and bytes.

Each is a problem at a line, never a traceback or gigabytes of memory.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest

from pipeline.config.loading import ConfigLoadError, load_config
from pipeline.data.rows import read_rows
from pipeline.evaluate.spec import check_eval
from pipeline.formats.results import ResultsDoc, ResultsError, dumps_results, load_results
from pipeline.results.page import render_html
from pipeline.results.scan import scan_results
from tests.support.haha_cli import HAHA


def billion_laughs() -> str:
    """2 KB of YAML whose aliases expand to 9**9 (387 million) strings."""
    text = 'lol: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n'
    previous = "a"
    for name in "bcdefghi":
        text += f"{name}: &{name} [" + ",".join([f"*{previous}"] * 9) + "]\n"
        previous = name
    return text


@pytest.mark.parametrize(("text", "line", "message"), [
    (billion_laughs(), 6, "refused: aliases expand this document past 100,000 values"),
    ("a: &x [1, *x]\n", 1, "refused: an alias refers to a value that contains it"),
    ("base_model: x\nb: &y {c: *y}\n", 2, "refused: an alias refers to a value that contains it"),
    ("a: " + "[" * 5000 + "]" * 5000 + "\n", 1, "refused: nested deeper than 64 levels"),
    ("a: " + "{b: " * 3000 + "1" + "}" * 3000 + "\n", 1, "refused: nested deeper than 64 levels"),
    ("base_model: x\n1: 2\n", 2, "key '1' is not a string; Axolotl's keys are names"),
])
def test_hostile_yaml_is_refused_at_its_line(tmp_path: Path, text: str, line: int, message: str) -> None:
    """Refused before the document is built (the budget is checked on the node graph, each node once), so the
    alias bomb never expands; its timing is measured outside the tests (milliseconds)."""
    path = tmp_path / "jokes-001.yml"
    path.write_text(text)
    with pytest.raises(ConfigLoadError) as raised:
        load_config(path)
    assert (raised.value.line, raised.value.message) == (line, message)
    assert len(text.encode()) < 50_000


def test_latin_1_bytes_in_a_config_are_a_problem_at_their_line(tmp_path: Path) -> None:
    path = tmp_path / "jokes-001.yml"
    path.write_bytes(b"base_model: x\nwandb_project: caf\xe9\n")
    with pytest.raises(ConfigLoadError) as raised:
        load_config(path)
    assert raised.value.line == 2 and "not UTF-8" in raised.value.message


def test_latin_1_bytes_in_a_dataset_are_a_row_problem(tmp_path: Path) -> None:
    path = tmp_path / "rows.jsonl"
    path.write_bytes(b'{"instruction": "a", "output": "caf\xe9"}\n{"instruction": "b", "output": "ok"}\n')
    rows, broken = read_rows(path)
    assert [number for number, _ in rows] == [2]
    assert [(number, message.startswith("not UTF-8 text (byte 0xe9")) for number, message in broken] == [(1, True)]


@pytest.mark.parametrize(("text", "expected"), [
    ('{"prompts": ["a"], "settings": [{"temperature": Infinity}], "seedVariants": 1}',
     "settings[0].temperature: Infinity is not a finite number; JSON has no NaN or Infinity"),
    ('{"prompts": ["a"], "settings": [{"temperature": NaN}], "seedVariants": 1}',
     "settings[0].temperature: NaN is not a finite number; JSON has no NaN or Infinity"),
    ('{"prompts": ["a"], "settings": [{"temperature": 0.1}], "seedVariants": 1000000000}',
     "seedVariants: Input should be less than or equal to 1000"),
    ('{"prompts": ["a"],\n "settings": [{"temperature": 0.1}],\n "seedVariants": 1,\n "seedVariants": 2}',
     "seedVariants: 'seedVariants' is written twice in one object; JSON keeps only the last"),
    ('{"prompts": ["a"], "settings": [{"temperature": 0.1}, {"temperature": 0.1}], "seedVariants": 1}',
     "settings: Value error, settings[1] repeats settings[0]: the same completions twice"),
    ('{"prompts": ["a"], "settings": [{"temperature": 0.1, "max_new_tokens": 100000}], "seedVariants": 1}',
     "settings[0].max_new_tokens: Input should be less than or equal to 4096"),
    ("[" * 100000 + "]" * 100000, "eval.json: refused: nested too deeply"),
])
def test_eval_json_bounds(tmp_path: Path, text: str, expected: str) -> None:
    path = tmp_path / "eval.json"
    path.write_text(text)
    spec, problems = check_eval(path, "train/eval/eval.json")
    assert spec is None
    assert [str(p).split(": ", 1)[1] for p in problems] == [expected]


def test_latin_1_bytes_in_eval_json_are_a_problem(tmp_path: Path) -> None:
    path = tmp_path / "eval.json"
    path.write_bytes(b'{"prompts": ["caf\xe9"]}')
    _, problems = check_eval(path, "e")
    assert [str(p) for p in problems] == ["e:1: eval.json: not UTF-8 text (byte 0xe9); save the file as UTF-8"]


def test_an_empty_basename_config_is_never_run(haha_repo: Path) -> None:
    """`.yml` would make its run folder the whole workspace, which `--force` deletes."""
    (haha_repo / "train" / "config" / ".yml").write_text((haha_repo / "train/config/jokes-001.yml").read_text())
    env = {**os.environ, "HAHA_ROOT": str(haha_repo)}
    run = subprocess.run([HAHA, "run", "--smoke", "--smoke-model", "tiny", "--wandb", "disabled",
                          "train/config/.yml"], cwd=haha_repo, env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 1
    assert "'.yml' is not <family>-NNN.yml" in run.stderr
    runs = haha_repo / "scratch" / "runs"
    assert not runs.exists() or not [p for p in runs.iterdir() if p.is_dir()], "no run folder was made"
    validate = subprocess.run([HAHA, "validate", "--json"], cwd=haha_repo, env=env, capture_output=True, text=True,
                              timeout=300)
    assert "train/config/.yml" in {p["file"] for p in json.loads(validate.stdout)["problems"]}


def _results_file(folder: Path, name: str, temperature: str = "0.7", extra: str = "") -> Path:
    """A results file as the pipeline writes it, with one value or key swapped in the text."""
    text = dumps_results(ResultsDoc.model_validate({"config": {"name": name}, "results": [
        {"prompt": "It was hot.", "settingsResults": [{"temperature": 0.7, "completions": ["A pun."]}]}]}))
    text = text.replace('"temperature": 0.7', f'"temperature": {temperature}').replace(
        '"config": {', '"config": {' + extra, 1)
    path = folder / f"{name}.json"
    path.write_text(text)
    return path


@pytest.mark.parametrize(("temperature", "extra", "why"), [
    ("NaN", "", "results[0].settingsResults[0].temperature: NaN is not a finite number"),
    ("-Infinity", "", "results[0].settingsResults[0].temperature: -Infinity is not a finite number"),
    ("0.7", '"name": "jokes-009", ', "name: 'name' is written twice in one object"),
])
def test_a_results_file_is_strict_json_and_the_index_still_renders(tmp_path: Path, temperature: str, extra: str,
                                                                   why: str) -> None:
    """One NaN in a collected results file made JSON.parse, and so the whole index.html, fail."""
    _results_file(tmp_path, "jokes-001")
    bad = _results_file(tmp_path, "jokes-002", temperature, extra)
    with pytest.raises(ResultsError, match=re.escape(f"{bad}: {why}")):
        load_results(bad)
    scan = scan_results(tmp_path)
    assert [entry.name for entry in scan.entries] == ["jokes-001"]
    assert [str(broken).split(": ", 1)[1] for broken in scan.broken] == [why + (
        "; JSON has no NaN or Infinity" if "finite" in why else "; JSON keeps only the last")]
    payload = render_html(scan).split('<script type="application/json" id="haha-data">')[1].split("</script>")[0]
    assert json.loads(payload, parse_constant=lambda name: pytest.fail(f"{name} in the page"))["configs"]
