"""Each stage command stands alone: `haha train`, then `haha publish`, then `haha evaluate` give what `haha run` gives;
and no verb answers a user mistake with a traceback."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.support.haha_cli import FAST_SMOKE, HAHA

CONFIG = "train/config/jokes-001.yml"
# What differs between two evals of the same adapter: when they ran, how long, and where the local hub lived.
VOLATILE_META = ("started", "finished", "timings", "adapter_source")


def haha(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([HAHA, *args], cwd=repo, env={**os.environ, "HAHA_ROOT": str(repo)}, capture_output=True,
                          text=True, timeout=600)


def comparable(results: Path) -> dict[str, Any]:
    doc = json.loads(results.read_text())
    for key in VOLATILE_META:
        doc["meta"].pop(key)
    for key in ("eval_seconds", "gpu_seconds"):  # the eval's own time; the training's is the same record
        doc["meta"]["cost"].pop(key)
    return doc


@pytest.mark.slow
def test_the_three_stage_commands_make_the_results_file_haha_run_makes(haha_repo: Path) -> None:
    """Training is not bit-for-bit repeatable on CPU (thread reductions), so both paths evaluate one adapter:
    the stage commands train it, and `haha run` finds it trained and published in a copy of that workspace."""
    staged, whole = haha_repo / "staged", haha_repo / "whole"
    for verb, status in (("train", "trained"), ("publish", "published"), ("evaluate", "evaluated")):
        options = FAST_SMOKE if verb == "train" else ("--smoke",)  # the smoke model and steps are train's alone
        done = haha(haha_repo, verb, *options, "--wandb", "offline", "--workspace", str(staged), CONFIG)
        assert done.returncode == 0, f"haha {verb}: {done.stdout}{done.stderr}"
        assert f"jokes-001.yml: validate ok, {verb} {status}" in done.stdout
    assert "sample completions" in done.stdout
    for folder in ("runs", "hub", "tiny-model"):
        shutil.copytree(staged / folder, whole / folder)
    ran = haha(haha_repo, "run", *FAST_SMOKE, "--wandb", "offline", "--workspace", str(whole), CONFIG)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    stages = {c["config"]: c["stages"] for c in json.loads((whole / "report.json").read_text())["configs"]}
    assert stages == {"jokes-001": {"validate": "ok", "train": "skipped", "publish": "skipped",
                                    "evaluate": "evaluated"}}
    assert comparable(staged / "results" / "jokes-001.json") == comparable(whole / "results" / "jokes-001.json")
    published = json.loads((staged / "runs" / "jokes-001" / "published.json").read_text())
    assert json.loads((whole / "results" / "jokes-001.json").read_text())["meta"]["hub_revision"] == \
        published["revision"]


def test_publish_and_evaluate_before_training_say_to_train_first(haha_repo: Path) -> None:
    for verb in ("publish", "evaluate"):
        done = haha(haha_repo, verb, "--smoke", "--workspace", str(haha_repo / "ws"), CONFIG)
        assert done.returncode == 1
        assert "jokes-001 is not trained for this config yet" in done.stderr
        assert f"haha train {CONFIG} --smoke --workspace {haha_repo / 'ws'} first" in done.stderr
        assert "Traceback" not in done.stdout + done.stderr


def break_rules(repo: Path) -> None:
    """The config names another W&B project and another chat template: two haha rules broken."""
    path = repo / CONFIG
    text = path.read_text().replace("chat_template: chatml", "chat_template: llama3")
    path.write_text(text.replace("wandb_project: haha", "wandb_project: someone-else"))


# Every verb, with the arguments a person would give it on the broken repo.
VERBS = [
    ("validate",), ("validate", CONFIG), ("run", *FAST_SMOKE, CONFIG), ("run", "--smoke"), ("train", "--smoke", CONFIG),
    ("publish", "--smoke", CONFIG), ("evaluate", "--smoke", CONFIG), ("train", CONFIG), ("publish", CONFIG),
    ("evaluate", CONFIG), ("pending",), ("results",), ("compare", "jokes-001", "jokes-002"),
    ("commit-results",), ("run", "--smoke", "--hub", "ftp://x", CONFIG), ("train", "--wandb", "loud", CONFIG),
    ("train", "train/config/missing-001.yml"), ("pending", "--diff", "nope", "HEAD"),
]


@pytest.mark.parametrize("args", VERBS, ids=" ".join)
def test_no_verb_answers_a_rule_breaking_config_with_a_traceback(haha_repo: Path, args: tuple[str, ...]) -> None:
    break_rules(haha_repo)
    done = haha(haha_repo, *args)
    output = done.stdout + done.stderr
    assert "Traceback" not in output, output
    assert done.returncode in (0, 1, 2), output
    if args[0] in ("run", "train", "publish", "evaluate", "validate") and "missing" not in " ".join(args):
        assert done.returncode != 0, output
        if "--hub" in args or "--wandb" in args:
            assert done.returncode == 2 and ("--hub must be" in output or "--wandb must be" in output), output
        else:
            assert "wandb_project" in output and "chat_template" in output, output


def test_bad_settings_and_no_repo_are_messages(haha_repo: Path, tmp_path: Path) -> None:
    env = {**os.environ, "HAHA_ROOT": str(haha_repo), "HAHA_TRAIN_TIMEOUT_S": "soon"}
    done = subprocess.run([HAHA, "train", "--smoke", CONFIG], cwd=haha_repo, env=env, capture_output=True, text=True)
    assert done.returncode == 1 and "HAHA_TRAIN_TIMEOUT_S='soon' is not a number of seconds" in done.stderr
    env = {k: v for k, v in os.environ.items() if k != "HAHA_ROOT"}
    done = subprocess.run([HAHA, "pending"], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert done.returncode == 1 and "no pyproject.toml with a [tool.haha] table" in done.stderr
    assert "Traceback" not in done.stdout + done.stderr
