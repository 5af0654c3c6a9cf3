"""`prompt_loss_weight`: on a fixed batch, 0 is `train_on_inputs: false`, 1 is `true`, and prompt gradients scale."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from pipeline.train.prompt_loss import IGNORED, token_weights, weighted_loss


@pytest.fixture(scope="module")
def batch(tiny_model_dir: Path) -> tuple[torch.nn.Module, dict[str, torch.Tensor], torch.Tensor]:
    """Two rows, the second right-padded: prompts of 5 and 3 tokens, completions of 4 and 3; labels as Axolotl
    makes them with train_on_inputs: false (prompt and padding -100)."""
    from transformers import AutoModelForCausalLM

    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir).eval()
    lengths = [(5, 4), (3, 3)]
    width = max(p + c for p, c in lengths)
    ids = torch.zeros((2, width), dtype=torch.long)
    mask = torch.zeros((2, width), dtype=torch.long)
    labels = torch.full((2, width), IGNORED)
    for row, (prompt, completion) in enumerate(lengths):
        tokens = torch.randint(10, 200, (prompt + completion,))
        ids[row, : prompt + completion] = tokens
        mask[row, : prompt + completion] = 1
        labels[row, prompt: prompt + completion] = tokens[prompt:]
    return model, {"input_ids": ids, "attention_mask": mask}, labels


def test_weight_0_is_train_on_inputs_false_and_1_is_true(batch: tuple) -> None:
    model, inputs, labels = batch
    all_tokens = inputs["input_ids"].masked_fill(inputs["attention_mask"] == 0, IGNORED)
    with torch.no_grad():
        logits = model(**inputs).logits
        without_prompt = model(**inputs, labels=labels).loss
        with_prompt = model(**inputs, labels=all_tokens).loss
    ours = {w: float(weighted_loss(logits, inputs["input_ids"], labels, inputs["attention_mask"], w))
            for w in (0.0, 0.3, 1.0)}
    assert ours[0.0] == pytest.approx(float(without_prompt), abs=1e-6)
    assert ours[1.0] == pytest.approx(float(with_prompt), abs=1e-6)
    assert min(ours[0.0], ours[1.0]) < ours[0.3] < max(ours[0.0], ours[1.0])


def test_prompt_token_gradients_scale_by_the_weight(batch: tuple) -> None:
    model, inputs, labels = batch
    with torch.no_grad():
        logits = model(**inputs).logits
    grads = {}
    for weight in (0.3, 1.0):
        leaf = logits.clone().requires_grad_(True)
        weighted_loss(leaf, inputs["input_ids"], labels, inputs["attention_mask"], weight).backward()
        total = float(token_weights(labels, inputs["attention_mask"], weight).sum())
        grads[weight] = leaf.grad * total  # undo the normalisation: each token's own share
    prompt_position, completion_position = (0, 1), (0, 6)  # predicting prompt token 2; completion token 7
    ratio = grads[0.3][prompt_position].norm() / grads[1.0][prompt_position].norm()
    assert float(ratio) == pytest.approx(0.3, rel=1e-5)
    assert torch.allclose(grads[0.3][completion_position], grads[1.0][completion_position], atol=1e-6)
    assert float(grads[0.3][(1, 7)].abs().sum()) == 0.0  # predicting padding never counts


def test_the_pipeline_adds_its_plugin_and_marks_the_prompt(haha_repo: Path, tmp_path: Path) -> None:
    from pipeline.config.effective import RunPlan, effective_config
    from pipeline.config.loading import load_config
    from pipeline.config.prompt_loss import PLUGIN
    from pipeline.core.settings import load_settings
    from pipeline.formats.tracking import WandbMode

    config = haha_repo / "train" / "config" / "jokes-001.yml"
    config.write_text(config.read_text() + "prompt_loss_weight: 0.3\ntrain_on_inputs: true\n")
    plan = RunPlan(tmp_path / "adapter", tmp_path / "prepared", haha_repo / "train" / "data", WandbMode.DISABLED)
    effective, overrides = effective_config(load_config(config).data, "jokes-001", load_settings(haha_repo), plan)
    assert effective["plugins"] == [PLUGIN] and effective["train_on_inputs"] is False
    assert effective["prompt_loss_weight"] == 0.3
    assert f"plugins: None -> ['{PLUGIN}'] (prompt_loss_weight: haha's loss-weight plugin)" in map(str, overrides)


@pytest.mark.parametrize(("value", "shown"), [("0.3", None), ("0", None), ("1", None), ("5e-1", None), ("1.5", "1.5"),
                                              ("'half'", "'half'"), ("true", "True")])
def test_validate_takes_a_weight_from_0_to_1(haha_repo: Path, value: str, shown: str | None) -> None:
    from pipeline.core.settings import load_settings
    from pipeline.orchestration.validation import validate

    config = haha_repo / "train" / "config" / "jokes-001.yml"
    config.write_text(config.read_text() + f"prompt_loss_weight: {value}\n")
    report = validate([str(config)], load_settings(haha_repo), check_eval_file=False, count_lengths=False)
    found = [(p.line, p.key, p.message) for p in report.problems if p.severity == "error"]
    line = len(config.read_text().splitlines())
    message = f"must be a number from 0 to 1 (the prompt tokens' weight in the loss), got {shown}"
    assert found == ([] if shown is None else [(line, "prompt_loss_weight", message)])
