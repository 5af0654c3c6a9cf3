"""The `pairwise` eval task on a policy (log-likelihood) and on a reward model (its score)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipeline.core.settings import load_settings
from pipeline.orchestration.context import EvalOptions, make_context
from pipeline.orchestration.runner import run_stages
from pipeline.orchestration.stages import EvaluateStage, single

PAIRS = [{"prompt": "It was 100 degrees today.", "chosen": "Even my sweat was sweating.", "rejected": "It was hot."},
         {"prompt": "I adopted a goldfish.", "chosen": "He has a memory like a sieve.", "rejected": "It is a fish."},
         {"prompt": "My printer jammed.", "chosen": "It had a paper cut.", "rejected": "It stopped."}]


def evaluate_with(repo: Path, tiny_model_dir: Path, adapter: Path, tmp_path: Path) -> dict:
    settings = load_settings(repo)
    ctx = make_context(settings, workspace=tmp_path / "ws", force=True,
                       eval_options=EvalOptions(adapter_dir=adapter, base_model=str(tiny_model_dir), max_new_tokens=4))
    outcome = run_stages(ctx, settings.config_dir / "jokes-001.yml", single(EvaluateStage()))
    assert not outcome.failed, outcome.error
    assert outcome.evaluation is not None
    return json.loads(outcome.evaluation.results_path.read_text())


def test_a_policy_is_scored_by_the_loglikelihood_of_each_answer(haha_repo: Path, tiny_model_dir: Path,
                                                                 tmp_path: Path) -> None:
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    (haha_repo / "train" / "eval" / "pairs.json").write_text(json.dumps({"kind": "pairwise", "pairs": PAIRS}))
    adapter = tmp_path / "adapter"
    get_peft_model(AutoModelForCausalLM.from_pretrained(tiny_model_dir),
                   LoraConfig(r=2, target_modules=["q_proj"])).save_pretrained(adapter)
    doc = evaluate_with(haha_repo, tiny_model_dir, adapter, tmp_path)
    pairs = doc["evals"]["pairs"]
    assert pairs["scoring"] == "loglikelihood" and pairs["metrics"]["n"] == 3
    assert all(s["chosen"] < 0 and s["rejected"] < 0 for s in pairs["scores"])  # log-probabilities
    wins = sum(s["chosen"] > s["rejected"] for s in pairs["scores"])
    assert pairs["metrics"]["accuracy"] == round(wins / 3, 4)
    assert doc["results"], "the sweep ran too: policies get both"


@pytest.mark.parametrize("source", ["inline", "path"])
def test_a_reward_model_is_scored_by_its_head(haha_repo: Path, tiny_model_dir: Path, tmp_path: Path,
                                              source: str) -> None:
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForSequenceClassification

    config = haha_repo / "train" / "config" / "jokes-001.yml"
    config.write_text(config.read_text() + "reward_model: true\n")
    if source == "path":
        (haha_repo / "train" / "data" / "pairs.jsonl").write_text("".join(json.dumps(p) + "\n" for p in PAIRS))
        task = {"kind": "pairwise", "path": "pairs.jsonl"}
    else:
        task = {"kind": "pairwise", "pairs": PAIRS}
    (haha_repo / "train" / "eval" / "pairs.json").write_text(json.dumps(task))
    torch.manual_seed(0)
    base = AutoModelForSequenceClassification.from_pretrained(tiny_model_dir, num_labels=1)
    adapter = tmp_path / "adapter"
    get_peft_model(base, LoraConfig(task_type="SEQ_CLS", r=2, target_modules=["q_proj"])).save_pretrained(adapter)
    doc = evaluate_with(haha_repo, tiny_model_dir, adapter, tmp_path)
    pairs = doc["evals"]["pairs"]
    assert pairs["scoring"] == "reward" and pairs["metrics"]["n"] == 3
    assert doc["results"] == [], "a reward model cannot generate: no sweep"


def pairwise_problems(repo: Path, task: dict) -> list[tuple[str, int | None, str, str]]:
    from pipeline.orchestration.validation import check_eval_tasks

    (repo / "train" / "eval" / "pairs.json").write_text(json.dumps(task, indent=2))
    return [(p.file, p.line, p.key, p.message) for p in check_eval_tasks(load_settings(repo))]


def test_a_pairs_file_is_a_file_name_in_train_data_and_never_leads_outside(haha_repo: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside.jsonl"
    outside.write_text(json.dumps(PAIRS[0]) + "\n")
    (haha_repo / "train" / "data" / "evil.jsonl").symlink_to(outside)
    found = pairwise_problems(haha_repo, {"kind": "pairwise", "path": "evil.jsonl"})
    assert found == [("train/eval/pairs.json", 3, "path", "evil.jsonl leads outside train/data (a symlink?)")]
    for name in ("../../pyproject.toml", "/etc/passwd", "sub/pairs.jsonl"):
        found = pairwise_problems(haha_repo, {"kind": "pairwise", "path": name})
        assert found == [("train/eval/pairs.json", 3, "path",
                          f"must be a file name in train/data (no folders), got {name!r}")]


def test_a_bad_line_of_a_pairs_file_is_named_by_that_file_and_line(haha_repo: Path) -> None:
    rows = [json.dumps(PAIRS[0]), "{not json", json.dumps({"prompt": "p", "chosen": "c", "rejectd": "r"})]
    (haha_repo / "train" / "data" / "pairs.jsonl").write_text("\n".join(rows) + "\n")
    found = pairwise_problems(haha_repo, {"kind": "pairwise", "path": "pairs.jsonl"})
    assert [(file, line, key) for file, line, key, _ in found] == [
        ("train/data/pairs.jsonl", 2, "line"), ("train/data/pairs.jsonl", 3, "rejected"),
        ("train/data/pairs.jsonl", 3, "rejectd")]
    (haha_repo / "train" / "data" / "pairs.jsonl").write_bytes(b"\xff\xfe bad\n")
    assert pairwise_problems(haha_repo, {"kind": "pairwise", "path": "pairs.jsonl"})[0][3].startswith("not UTF-8")
    (haha_repo / "train" / "data" / "pairs.jsonl").write_text("")
    assert pairwise_problems(haha_repo, {"kind": "pairwise", "path": "pairs.jsonl"}) == [
        ("train/data/pairs.jsonl", None, "path", "has no pairs")]
    found = pairwise_problems(haha_repo, {"kind": "pairwise", "pairs": [], "foo": 1})
    assert {(line, key) for _, line, key, _ in found} == {(3, "pairs"), (4, "foo")}
