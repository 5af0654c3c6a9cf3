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
