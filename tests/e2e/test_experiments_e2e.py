"""The puns (prompt/completion, `prompt_loss_weight: 0.3`, samples during training) and trivia (CSV, packing)
sample configs, smoke-run on the tiny model through `haha run`, then `haha evaluate --predictions`."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from tests.support.haha_cli import HAHA, copy_repo
from tests.support.paths import REPO

pytestmark = pytest.mark.slow
PUNS = "puns-mistral-7b-001"
TRIVIA = "trivia-qwen2-7b-001"
STEPS = 8  # the puns config evaluates (and so samples) at the start and every 8 steps
Run = tuple[subprocess.CompletedProcess[str], dict[str, dict], Path]


def haha(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HAHA_ROOT": str(root), "GITHUB_STEP_SUMMARY": str(root / "summary.md")}
    return subprocess.run([HAHA, *args], cwd=root, env=env, capture_output=True, text=True, timeout=900)


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    root = copy_repo(tmp_path_factory.mktemp("repo"))
    done = haha(root, "run", "--smoke", "--smoke-model", "tiny", "--smoke-steps", str(STEPS), "--wandb", "disabled",
                f"train/config/{PUNS}.yml", f"train/config/{TRIVIA}.yml")
    report = root / "scratch" / "report.json"
    assert report.is_file(), done.stdout[-3000:] + done.stderr[-3000:]
    return done, {c["config"]: c for c in json.loads(report.read_text())["configs"]}, root


def test_both_run_without_pulling_in_the_haha_family(run: Run) -> None:
    done, reports, _ = run
    assert done.returncode == 0, done.stdout + done.stderr
    assert list(reports) == [PUNS, TRIVIA]  # best-of-4 and the preference pairs are limited to haha-* configs


def test_the_weighted_run_loads_its_plugin_and_samples_at_each_evaluation(run: Run) -> None:
    done, reports, _ = run
    train = reports[PUNS]["train"]
    assert "plugins: None -> ['pipeline.train.prompt_loss_plugin.PromptLossWeightPlugin']" in "\n".join(
        train["overrides"])
    log = (Path(train["run_dir"]) / "train.log").read_text()
    assert "Plugin loaded successfully: pipeline.train.prompt_loss_plugin.PromptLossWeightPlugin" in log
    assert sorted({s["step"] for s in train["samples"]}) == [0, 8]  # eval_steps: 8, kept in the smoke run
    assert all(len([s for s in train["samples"] if s["step"] == step]) == 2 for step in (0, 8))
    assert all(s["prompt"].startswith("Write a pun about ") for s in train["samples"])
    record = json.loads((Path(train["run_dir"]) / "complete.json").read_text())
    assert record["samples"] == train["samples"]
    assert f"{PUNS}: samples generated during training" in done.stdout
    summary = (Path(train["run_dir"]).parents[2] / "summary.md").read_text()  # the Actions job summary
    assert f"**{PUNS}**: samples generated during training" in summary and "| step | prompt | generated |" in summary


def test_the_csv_run_keeps_packing_and_records_its_efficiency(run: Run) -> None:
    done, reports, _ = run
    train = reports[TRIVIA]["train"]
    assert not [line for line in train["overrides"] if line.startswith("sample_packing:")]  # packing stays on
    assert train["overrides"][-3:-2] == ["micro_batch_size: 8 -> 1 (smoke: one packed sequence a step on CPU)"]
    assert 0.5 < train["packing_efficiency"] <= 1
    assert f"{TRIVIA}: sample packing filled {round(train['packing_efficiency'] * 100)} %" in done.stdout


def test_matching_accuracy_and_the_bare_predictions_file(run: Run, tmp_path: Path) -> None:
    done, _, root = run
    results = root / "scratch" / "results"
    items = [json.loads(line) for line in (REPO / "train" / "data" / "matching-v1.jsonl").read_text().splitlines()]
    matching = json.loads((results / f"{PUNS}.json").read_text())["evals"]["matching"]
    metrics = matching["metrics"]
    assert metrics["n"] == 24 and sorted(matching["predictions"]) == sorted(item["id"] for item in items)
    low, high = metrics["accuracy_interval"]
    shown = f"accuracy {metrics['accuracy']:g}, accuracy_interval {low:g} to {high:g}, n 24"
    assert f"{PUNS}: matching (multiple_choice): {shown}" in done.stdout
    evaluated = haha(root, "evaluate", "--smoke", f"train/config/{PUNS}.yml", "--predictions", str(tmp_path))
    assert evaluated.returncode == 0, evaluated.stdout + evaluated.stderr
    assert "already evaluated" in evaluated.stdout
    assert json.loads((tmp_path / "matching.json").read_text()) == matching["predictions"]
