"""`make demo`'s run on the embedded SmolLM2: fine-tuning must visibly do something, in English."""

from __future__ import annotations

import json
import os
import shutil
import subprocess

import pytest
from haha_cli import HAHA, REPO

pytestmark = pytest.mark.slow
CONFIG = "haha-llama-3-8b-lora-001"


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[subprocess.CompletedProcess[str], dict]:
    root = tmp_path_factory.mktemp("repo")
    shutil.copy(REPO / "pyproject.toml", root)
    shutil.copytree(REPO / "train", root / "train", ignore=shutil.ignore_patterns("results"))
    (root / "train" / "results").mkdir()
    env = {**os.environ, "HAHA_ROOT": str(root)}
    result = subprocess.run([HAHA, "run", "--smoke", "--smoke-model", "embedded", "--wandb", "disabled"], cwd=root,
                            env=env, capture_output=True, text=True, timeout=900)
    report = json.loads((root / "scratch" / "report.json").read_text())["configs"][0]
    return result, report


def test_the_loss_falls_by_at_least_15_percent(demo: tuple[subprocess.CompletedProcess[str], dict]) -> None:
    result, report = demo
    assert result.returncode == 0, result.stdout + result.stderr
    losses = report["train"]["losses"]
    assert losses[-1] <= 0.85 * losses[0], losses


def test_completions_are_text_and_shown_beside_the_base_models(
        demo: tuple[subprocess.CompletedProcess[str], dict]) -> None:
    result, report = demo
    samples = report["evaluate"]["samples"]
    assert samples and all(s["completion"].strip() and s["base"].strip() for s in samples)
    assert not [s for s in samples if "\ufffd" in s["completion"] + s["base"]]
    assert [s["completion"] for s in samples] != [s["base"] for s in samples]
    assert "base model" in result.stdout and "fine-tuned" in result.stdout


def test_library_noise_stays_off_the_terminal(demo: tuple[subprocess.CompletedProcess[str], dict]) -> None:
    result, _ = demo
    for noise in ("torchao", "_pytree", "Loading weights"):
        assert noise not in result.stdout + result.stderr
