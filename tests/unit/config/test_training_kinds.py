"""Preference (rl: dpo and relatives) and reward-model configs: validated with their own rows, smoke-trained."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
import yaml

from pipeline.core.settings import load_settings
from pipeline.orchestration.validation import validate
from tests.support.haha_cli import HAHA

PAIRS = [{"system": "You write one-line jokes.", "question": f"Setup number {i}.",
          "chosen": f"A punchline that lands, number {i}.", "rejected": f"A flat remark, number {i}."}
         for i in range(40)]


def write_kind(repo: Path, name: str, changes: dict[str, object], rows: list[dict[str, str]], data: str,
               dataset_type: str) -> Path:
    config = yaml.safe_load((repo / "train" / "config" / "jokes-001.yml").read_text())
    config.update(changes)
    config["datasets"] = [{"path": f"/workspace/data/{data}", "type": dataset_type, "split": "train"}]
    (repo / "train" / "data" / data).write_text("".join(json.dumps(row) + "\n" for row in rows))
    path = repo / "train" / "config" / f"{name}.yml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def dpo(repo: Path, rows: list[dict[str, str]] = PAIRS) -> Path:
    return write_kind(repo, "quip-dpo-001", {"rl": "dpo"}, rows, "pairs.jsonl", "chatml.intel")


def reward(repo: Path) -> Path:
    rows = [{"system": r["system"], "input": r["question"], "chosen": r["chosen"], "rejected": r["rejected"]}
            for r in PAIRS]
    return write_kind(repo, "quip-rm-001", {"reward_model": True, "model_type": "AutoModelForSequenceClassification",
                                            "num_labels": 1}, rows, "bt.jsonl", "bradley_terry.chat_template")


def problems_of(repo: Path, path: Path) -> list[tuple[str, int | None, str, str]]:
    settings = load_settings(repo)
    return [(p.file, p.line, p.key, p.message) for p in validate([str(path)], settings).problems
            if p.severity == "error"]


def test_preference_rows_are_checked_for_the_fields_their_type_reads(haha_repo: Path) -> None:
    rows = [dict(row) for row in PAIRS]
    del rows[2]["question"]
    rows[5]["rejected"] = rows[5]["chosen"]
    path = dpo(haha_repo, rows)
    assert problems_of(haha_repo, path) == [
        ("train/data/pairs.jsonl", 3, "question", "missing field 'question': Axolotl's chatml.intel strategy reads it"),
    ]
    warned = [(p.line, p.message) for p in validate([str(path)], load_settings(haha_repo)).problems
              if p.severity == "warning"]
    assert (6, "chosen and rejected are the same text once formatted: the pair teaches nothing") in warned


def test_axolotl_refuses_packing_with_rl_and_haha_quotes_it(haha_repo: Path) -> None:
    path = dpo(haha_repo)
    path.write_text(path.read_text() + "sample_packing: true\n")
    assert [message for *_, message in problems_of(haha_repo, path)] == [
        "Value error, `sample_packing: true` does not work with RLHF training"]


def test_a_reward_model_config_validates(haha_repo: Path) -> None:
    assert problems_of(haha_repo, reward(haha_repo)) == []


@pytest.mark.slow
@pytest.mark.parametrize("make", [dpo, reward], ids=["dpo", "reward"])
def test_each_kind_smoke_trains_on_the_tiny_model(haha_repo: Path, make: object) -> None:
    path = make(haha_repo)  # type: ignore[operator]
    done = subprocess.run([HAHA, "train", "--smoke", "--smoke-model", "tiny", "--smoke-steps", "4", "--wandb",
                           "disabled", str(path.relative_to(haha_repo))], cwd=haha_repo, capture_output=True,
                          text=True, timeout=600, env={**os.environ, "HAHA_ROOT": str(haha_repo)})
    assert done.returncode == 0, done.stdout + done.stderr
    record = json.loads((haha_repo / "scratch" / "runs" / path.stem / "complete.json").read_text())
    assert len(record["losses"]) == 4 and all(loss > 0 for loss in record["losses"])
