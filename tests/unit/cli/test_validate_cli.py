"""`haha validate` as users and CI see it: lines, summary, exit codes, --strict and --json."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pipeline.cli.main import app
from tests.support.paths import REPO

CONFIG = "train/config/jokes-001.yml"


def validate(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["validate", *args])
    return result.exit_code, result.output


def add_duplicate_rows(root: Path) -> None:
    data = root / "train" / "data" / "jokes.jsonl"
    data.write_text(data.read_text() + data.read_text().splitlines()[0] + "\n")


def test_the_real_repo_validates_clean(monkeypatch: pytest.MonkeyPatch) -> None:
    """Its Llama-3-8B config is a GPU config (8-bit, bf16: auto, flash attention, bnb optimizer, Hub model)."""
    monkeypatch.setenv("HAHA_ROOT", str(REPO))
    code, output = validate()
    assert code == 0, output
    # SFT, DPO from it and from ratings, the reward model, GRPO against it, the weighted puns, the packed CSV trivia,
    # the cartoon captions
    assert output.splitlines()[-1] == "OK: 8 configs, 0 errors, 0 warnings"


def test_problems_print_as_file_line_key_message_and_fail(haha_repo: Path) -> None:
    config = haha_repo / CONFIG
    config.write_text(config.read_text().replace("lora_r:", "lora_rr:"))
    line = next(n for n, text in enumerate(config.read_text().splitlines(), 1) if text.startswith("lora_rr"))
    code, output = validate()
    assert code == 1
    assert f"{CONFIG}:{line}: lora_rr: unknown key (Axolotl would silently ignore it); did you mean 'lora_r'?" in (
        output.splitlines())
    assert output.splitlines()[-1] == "FAILED: 1 config, 1 error, 0 warnings"


def test_warnings_pass_unless_strict(haha_repo: Path) -> None:
    add_duplicate_rows(haha_repo)
    code, output = validate()
    assert code == 0
    assert "train/data/jokes.jsonl: rows: warning: 1 duplicate rows" in output.splitlines()
    assert output.splitlines()[-1] == "OK: 1 config, 0 errors, 1 warning"
    code, output = validate("--strict")
    assert code == 1
    assert output.splitlines()[-1] == "FAILED: 1 config, 0 errors, 1 warning"


def test_notes_are_printed_but_never_fail(haha_repo: Path) -> None:
    code, output = validate("--strict")
    assert code == 0
    assert (f"{CONFIG}:4: datasets[0].path: note: length check and Axolotl's model-load checks skipped: "
            "'haha-test/not-a-real-model' is not in the HF cache and HF_HUB_OFFLINE is set; rows checked with the "
            "embedded model's tokenizer") in output.splitlines()


def test_json_prints_the_same_problems(haha_repo: Path) -> None:
    add_duplicate_rows(haha_repo)
    (haha_repo / "train" / "config" / "jokes-003.yml").write_text("adapter: [\n")
    result = CliRunner().invoke(app, ["validate", "--json"])
    assert result.exit_code == 1
    report = json.loads(result.stdout)  # stdout alone: libraries' import-time prints go to stderr
    assert report["summary"] == {"configs": 2, "errors": 1, "warnings": 2}
    assert [(p["file"], p["line"], p["key"], p["severity"]) for p in report["problems"]] == [
        ("train/config/jokes-001.yml", None, "filename", "warning"),
        ("train/data/jokes.jsonl", None, "rows", "warning"),
        (CONFIG, 4, "datasets[0].path", "note"),
        ("train/config/jokes-003.yml", 2, "yaml", "error"),
    ]
    assert report["datasets"] == [{"config": "jokes-001.yml", "file": "train/data/jokes.jsonl", "rows": 4,
                                   "duplicates": 1, "too_long": None,
                                   "length_check": report["problems"][2]["message"]}]


def test_paths_name_the_configs_to_check(haha_repo: Path) -> None:
    broken = haha_repo / "train" / "config" / "jokes-002.yml"
    broken.write_text("adapter: [\n")
    assert validate(str(haha_repo / CONFIG))[0] == 0
    assert validate(str(broken))[0] == 1
    code, output = validate(str(haha_repo / "train" / "config" / "nope-001.yml"))
    assert (code, output.splitlines()[0]) == (1, f"{haha_repo}/train/config/nope-001.yml: config: no such file or "
                                                 "folder")


def test_a_broken_eval_json_fails_validation(haha_repo: Path) -> None:
    (haha_repo / "train" / "eval" / "eval.json").write_text('{"prompts": [], "settings": [{"temperature": 0}],\n'
                                                            ' "seedVariants": 1}')
    code, output = validate()
    assert code == 1
    assert ("train/eval/eval.json:1: prompts: List should have at least 1 item after validation, not 0"
            in output.splitlines())


def test_an_unknown_option_is_a_usage_error(haha_repo: Path) -> None:
    assert validate("--bogus")[0] == 2


def test_many_configs_sharing_a_model_and_dataset_print_one_note_and_one_dataset_line(haha_repo: Path) -> None:
    config_dir = haha_repo / "train" / "config"
    text = (config_dir / "jokes-001.yml").read_text()
    for number in range(2, 41):  # one hyperparameter apart, as a sweep is
        (config_dir / f"jokes-{number:03d}.yml").write_text(text.replace("learning_rate: 0.0001",
                                                                         f"learning_rate: 0.0001{number:02d}"))
    code, output = validate()
    assert code == 0, output
    notes = [line for line in output.splitlines() if "checks skipped" in line]
    assert len(notes) == 1 and notes[0].endswith("(and 39 more configs)")
    datasets = [line for line in output.splitlines() if line.startswith("train/data/jokes.jsonl:")]
    assert len(datasets) == 1 and datasets[0].endswith("(40 configs)")
    assert "OK: 40 configs" in output
