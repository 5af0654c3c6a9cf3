"""The `multiple_choice` eval task: both scorings against log-likelihoods computed by hand on the tiny model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipeline.config.loading import load_config
from pipeline.core.settings import load_settings
from pipeline.core.stats import bootstrap_interval
from pipeline.evaluate.model import load_model
from pipeline.evaluate.multiple_choice import LETTERS, MultipleChoiceTask, letter_prompt, share_true
from pipeline.evaluate.prompting import encode_prompts
from pipeline.evaluate.tasks import EvalJob
from pipeline.formats.results import ConfigBlock, ResultsDoc

ITEMS = [
    {"id": "415f", "prompt": "Which punchline fits: my cat learned to type.",
     "choices": ["Paw-sitive feedback.", "It rained.", "The bus was late."], "answer": 0},
    {"id": "9a2c", "prompt": "Which punchline fits: I joined a gym.",
     "choices": ["Tuesday.", "My wallet lost the most weight."], "answer": 1},
    {"id": "c001", "prompt": "Which punchline fits: the printer jammed.",
     "choices": ["It sensed the deadline.", "Blue.", "Seven.", "Yes."], "answer": 0},
]


def run_task(repo: Path, tiny_model_dir: Path, scoring: str, batch_size: int = 64) -> tuple[dict, object]:
    task = MultipleChoiceTask()
    path = repo / "train" / "eval" / "mc.json"
    path.write_text(json.dumps({"kind": "multiple_choice", "scoring": scoring, "items": ITEMS}))
    spec, problems = task.check(path, "mc.json")
    assert spec is not None, problems
    job = EvalJob(load_config(repo / "train" / "config" / "jokes-001.yml"), "jokes-001", str(tiny_model_dir), None,
                  repo / "r.json", batch_size)
    model = load_model(str(tiny_model_dir), None)
    output = task.run(job, spec, task.plan(spec), model, lambda _p: None)
    doc = task.assemble(job, spec, output, ResultsDoc(config=ConfigBlock(name="jokes-001"), results=[]))
    return doc.evals["mc"], model


def by_hand(model: object, context: list[int], continuation: list[int]) -> float:
    import torch

    ids = torch.tensor([context + continuation])
    with torch.no_grad():
        logprobs = torch.log_softmax(model.model(input_ids=ids).logits[0].float(), -1)  # type: ignore[attr-defined]
    return float(sum(logprobs[len(context) - 1 + i, token] for i, token in enumerate(continuation)))


def test_loglikelihood_scores_match_a_forward_pass_per_choice(haha_repo: Path, tiny_model_dir: Path) -> None:
    result, model = run_task(haha_repo, tiny_model_dir, "loglikelihood", batch_size=3)
    config = load_config(haha_repo / "train" / "config" / "jokes-001.yml").data
    for item, scores in zip(ITEMS, result["scores"], strict=True):
        context = encode_prompts(config, None, [item["prompt"]], model.tokenizer)[0]  # type: ignore[attr-defined]
        for choice, score in zip(item["choices"], scores, strict=True):
            ids = model.tokenizer(choice, add_special_tokens=False)["input_ids"]  # type: ignore[attr-defined]
            assert score == pytest.approx(by_hand(model, context, ids), abs=1e-3)
    picks = [max(range(len(s)), key=s.__getitem__) for s in result["scores"]]
    assert result["predictions"] == {item["id"]: LETTERS[pick] for item, pick in zip(ITEMS, picks, strict=True)}
    right = sum(pick == item["answer"] for pick, item in zip(picks, ITEMS, strict=True))
    assert result["metrics"]["accuracy"] == round(right / 3, 4) and result["metrics"]["n"] == 3
    low, high = result["metrics"]["accuracy_interval"]
    assert low <= result["metrics"]["accuracy"] <= high
    assert "accuracy_norm" in result["metrics"]


def test_letter_scoring_reads_the_next_token_among_the_letters(haha_repo: Path, tiny_model_dir: Path) -> None:
    import torch

    result, model = run_task(haha_repo, tiny_model_dir, "letter")
    config = load_config(haha_repo / "train" / "config" / "jokes-001.yml").data
    for item, scores in zip(ITEMS, result["scores"], strict=True):
        context = encode_prompts(config, None, [letter_prompt(item_model(item))], model.tokenizer)[0]  # type: ignore[attr-defined]
        with torch.no_grad():
            last = torch.log_softmax(model.model(input_ids=torch.tensor([context])).logits[0, -1].float(), -1)  # type: ignore[attr-defined]
        letters = [model.tokenizer(LETTERS[i], add_special_tokens=False)["input_ids"][0]  # type: ignore[attr-defined]
                   for i in range(len(item["choices"]))]
        assert scores == pytest.approx([float(last[token]) for token in letters], abs=1e-3)
    assert "accuracy_norm" not in result["metrics"]
    assert set(result["predictions"].values()) <= set("ABCD")


def item_model(item: dict) -> object:
    from pipeline.evaluate.multiple_choice import Item

    return Item.model_validate(item)


def test_a_batch_scores_each_item_as_it_scores_alone(haha_repo: Path, tiny_model_dir: Path) -> None:
    together, _ = run_task(haha_repo, tiny_model_dir, "loglikelihood", batch_size=64)
    alone, _ = run_task(haha_repo, tiny_model_dir, "loglikelihood", batch_size=1)
    for a, b in zip(together["scores"], alone["scores"], strict=True):
        assert a == pytest.approx(b, abs=1e-3)


def test_bootstrap_interval_is_fixed_and_brackets_the_accuracy() -> None:
    correct = [True] * 30 + [False] * 10
    low, high = bootstrap_interval(correct, share_true)
    assert low < 0.75 < high and (low, high) == bootstrap_interval(correct, share_true)
    assert bootstrap_interval([True] * 5, share_true) == (1.0, 1.0)


def test_items_are_checked_at_their_lines(haha_repo: Path) -> None:
    from pipeline.orchestration.validation import check_eval_tasks

    rows = [json.dumps(ITEMS[0]), json.dumps({**ITEMS[1], "answer": 2}), json.dumps(ITEMS[0])]
    (haha_repo / "train" / "data" / "mc.jsonl").write_text("\n".join(rows) + "\n")
    (haha_repo / "train" / "eval" / "mc.json").write_text(json.dumps({"kind": "multiple_choice", "path": "mc.jsonl"}))
    found = [(p.file, p.line, p.key, p.message) for p in check_eval_tasks(load_settings(haha_repo))]
    assert ("train/data/mc.jsonl", 2, "line",
            "Value error, answer 2 is not one of the 2 choices (0-based)") in found
    assert ("train/data/mc.jsonl", 3, "id", "id '415f' was already used on line 1") in found
