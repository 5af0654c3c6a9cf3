"""Smoke results that tell the truth: an adapter trained on one stand-in model is never reused for another, a
judge or parent trained on another model is refused in one line, and runs that trained differently say so."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from tests.support.haha_cli import HAHA, copy_repo

CONFIG = "haha-llama-3-8b-lora-001"
EVAL = {"prompts": ["My cat learned to type."], "settings": [{"temperature": 0.1, "max_new_tokens": 6}],
        "seedVariants": 1}


def haha(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HAHA_ROOT": str(repo), "HF_HUB_OFFLINE": "1", "COLUMNS": "250"}
    return subprocess.run([HAHA, *args], cwd=repo, env=env, capture_output=True, text=True, timeout=900)


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = copy_repo(tmp_path_factory.mktemp("repo"), "best-of-4.json", "matching.json", "prefs.json")
    (root / "train" / "eval" / "eval.json").write_text(json.dumps(EVAL))
    return root


def results(repo: Path) -> dict[str, object]:
    return json.loads((repo / "scratch" / "results" / f"{CONFIG}.json").read_text())


def stages(repo: Path) -> dict[str, object]:
    data = json.loads((repo / "scratch" / "report.json").read_text())
    return next(c for c in data["configs"] if c["config"] == CONFIG)


@pytest.fixture(scope="module")
def on_tiny_then_embedded(repo: Path) -> tuple[dict[str, object], dict[str, object]]:
    """The new user's sequence: a fast run on the tiny model, then the default smoke run, same config and steps."""
    first = haha(repo, "run", "--smoke", "--smoke-model", "tiny", "--smoke-steps", "4", f"train/config/{CONFIG}.yml")
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    tiny = results(repo)
    second = haha(repo, "run", "--smoke", "--smoke-steps", "4", f"train/config/{CONFIG}.yml")
    assert second.returncode == 0, second.stdout[-3000:] + second.stderr[-3000:]
    return tiny, results(repo)


@pytest.mark.slow
def test_a_change_of_stand_in_model_retrains_and_says_why(repo: Path, on_tiny_then_embedded: tuple) -> None:
    tiny, embedded = on_tiny_then_embedded
    report = stages(repo)
    assert report["stages"]["train"] == "trained" and report["stages"]["evaluate"] == "evaluated"
    [why] = [w for w in report["train"]["warnings"] if w.startswith("retrained:")]
    assert "tiny-model" in why and "SmolLM2-135M-Instruct" in why
    assert "tiny-model" in tiny["meta"]["base_model"]
    assert "SmolLM2-135M-Instruct" in embedded["meta"]["base_model"]
    assert embedded["meta"]["adapter_sha256"] != tiny["meta"]["adapter_sha256"]


@pytest.mark.slow
def test_results_record_what_the_smoke_run_really_trained(on_tiny_then_embedded: tuple) -> None:
    _, embedded = on_tiny_then_embedded
    trained = embedded["meta"]["trained_with"]
    assert trained["max_steps"] == 4 and trained["optimizer"] == "adamw_torch"
    assert trained["load_in_8bit"] is False and "SmolLM2" in trained["base_model"]
    assert embedded["config"]["optimizer"] == "adamw_bnb_8bit"  # the config as written, beside it


@pytest.mark.slow
def test_compare_finds_smoke_results_and_says_they_are_not_like_for_like(repo: Path,
                                                                          on_tiny_then_embedded: tuple) -> None:
    tiny, _ = on_tiny_then_embedded
    other = repo / "scratch" / "results" / "haha-llama-3-8b-lora-000.json"
    other.write_text(json.dumps(tiny))
    missing = haha(repo, "compare", CONFIG, other.stem)
    assert missing.returncode == 2 and "add --results-dir" in missing.stderr
    shown = haha(repo, "compare", "--results-dir", "scratch/results", other.stem, CONFIG)
    assert shown.returncode == 0, shown.stderr
    first_line = shown.stdout.splitlines()[0]
    assert first_line.startswith("not like for like: haha-llama-3-8b-lora-000 trained 4 steps on ")
    assert "tiny-model" in first_line and "SmolLM2-135M-Instruct" in first_line


def test_an_adapter_trained_on_another_model_is_refused_in_one_line(tmp_path: Path) -> None:
    from pipeline.core.settings import load_settings
    from pipeline.formats.results import ConfigBlock, Meta, ResultsDoc, dumps_results
    from pipeline.models.smoke import SmokeModelChoice
    from pipeline.orchestration.context import make_context
    from pipeline.orchestration.parents import trained_on_problem

    ctx = make_context(load_settings(copy_repo(tmp_path)), smoke=SmokeModelChoice.TINY)
    ctx.results_dir.mkdir(parents=True)
    doc = ResultsDoc(config=ConfigBlock(name="judge-001"), results=[],
                     meta=Meta(base_model="/cache/SmolLM2-135M-Instruct"))
    (ctx.results_dir / "judge-001.json").write_text(dumps_results(doc))
    assert trained_on_problem(ctx, "judge-001", "the judge", "/scratch/tiny-model") == (
        "the judge judge-001 was trained on /cache/SmolLM2-135M-Instruct, and this run puts it on /scratch/tiny-model: "
        "train both on the same model (the same --smoke-model), or run judge-001 again on this one first")
    assert trained_on_problem(ctx, "judge-001", "the judge", "/cache/SmolLM2-135M-Instruct") is None


def test_pairwise_accuracy_below_chance_is_flagged_as_such() -> None:
    from pipeline.evaluate.tasks import headlines

    below = {"prefs": {"kind": "pairwise", "scoring": "reward", "metrics": {"accuracy": 0.375, "n": 16}}}
    above = {"prefs": {"kind": "pairwise", "scoring": "reward", "metrics": {"accuracy": 0.625, "n": 16}}}
    assert headlines(below) == ["prefs (pairwise): accuracy 0.375, n 16 (below chance, 0.5: the reward model scores "
                                "the rejected answer over the chosen one more often than not)"]
    assert "below chance" not in headlines(above)[0]
    policy = {"prefs": {**below["prefs"], "scoring": "loglikelihood"}}  # a generator is not a reward model
    assert headlines(policy)[0].endswith("(below chance, 0.5: the model finds more likely the rejected answer over "
                                         "the chosen one more often than not)")
