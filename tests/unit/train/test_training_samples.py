"""Samples Axolotl generates during training (`generate_samples`): read back from its log as Axolotl writes them,
its packing estimate likewise, and the generation keys checked at their lines."""

from __future__ import annotations

from pathlib import Path

import pytest
from axolotl.utils.generation.sft import format_generation_for_logging

from pipeline.core.runs import TrainingSample
from pipeline.train.axolotl_log import packing_efficiency, training_samples
from tests.support.repo_edits import errors_and_warnings, key_line, set_keys

WRITTEN = [
    TrainingSample(step=0, index=1, prompt="Write a pun about bakers.\n\n###\n\n", generated=" I knead a break."),
    TrainingSample(step=0, index=2, prompt="Write a pun about clocks.", generated="Time flies.\nTwo lines."),
    TrainingSample(step=8, index=1, prompt="Write a pun about bees.\n\n###\n\n I", generated=" use a honeycomb."),
]
LOG_PREFIX = "[2026-11-23 04:49:21,238] [INFO] [axolotl.utils.callbacks.generation.on_evaluate:92] [PID:1] "


def axolotl_log(samples: list[TrainingSample]) -> list[str]:
    """A training log with each sample logged exactly as Axolotl's callback logs it (its own formatter)."""
    text = "{'loss': '6.6', 'epoch': 0}\n"
    for sample in samples:
        console, _ = format_generation_for_logging(
            {"prompt": sample.prompt, "generated": sample.generated, "full_text": ""}, sample.index - 1, sample.step)
        text += LOG_PREFIX + console + "\n"
    return text.splitlines()


def test_samples_come_back_as_axolotl_logged_them() -> None:
    assert training_samples(axolotl_log(WRITTEN)) == WRITTEN


def test_a_sample_cut_off_by_the_end_of_the_log_is_left_out() -> None:
    lines = axolotl_log(WRITTEN)
    assert training_samples(lines[:-3]) == WRITTEN[:2]


def test_the_packing_estimate_is_axolotls_last() -> None:
    lines = ["[2026-11-23] [INFO] [axolotl.utils.trainer] sample_packing_eff_est across ranks: [0.925537109375]",
             "[2026-11-23] [INFO] [axolotl.utils.trainer] sample_packing_eff_est across ranks: [0.9375]"]
    assert packing_efficiency(lines) == 0.9375
    assert packing_efficiency(axolotl_log(WRITTEN)) is None


def test_samples_with_an_eval_split_validate_clean(haha_repo: Path) -> None:
    set_keys(haha_repo, generate_samples=True, num_generation_samples=2, generation_max_new_tokens=24,
             generation_prompt_ratio=0.4, val_set_size=0.1, eval_steps=8)
    assert errors_and_warnings(haha_repo) == []


@pytest.mark.parametrize(("key", "value", "wanted"), [
    ("num_generation_samples", 0, "a whole number of at least 1"),
    ("generation_max_new_tokens", 2.5, "a whole number of at least 1"),
    ("generation_prompt_ratio", 1.5, "a number from 0 to 1 (the share of an eval row's tokens used as the prompt)"),
    ("generation_top_p", 0, "a number above 0 and at most 1"),
])
def test_out_of_range_generation_keys_are_named_at_their_line(haha_repo: Path, key: str, value: object,
                                                               wanted: str) -> None:
    path = set_keys(haha_repo, generate_samples=True, val_set_size=0.1, **{key: value})
    assert (key_line(path, key), key, "error", f"must be {wanted}, got {value!r}") in errors_and_warnings(haha_repo)


def test_samples_need_evaluations_and_sampling_needs_a_temperature(haha_repo: Path) -> None:
    path = set_keys(haha_repo, generate_samples=True, generation_temperature=0)
    assert errors_and_warnings(haha_repo) == [
        (key_line(path, "generate_samples"), "generate_samples", "warning",
         "Axolotl generates samples at each evaluation, and this config never evaluates: set val_set_size (e.g. "
         "0.05) and eval_steps"),
        (key_line(path, "generation_temperature"), "generation_temperature", "warning",
         "0 with generation_do_sample on: transformers refuses it and Axolotl logs no sample; set "
         "generation_do_sample: false for greedy samples"),
    ]


def test_generation_keys_without_the_switch_do_nothing(haha_repo: Path) -> None:
    path = set_keys(haha_repo, num_generation_samples=3)
    assert errors_and_warnings(haha_repo) == [(key_line(path, "num_generation_samples"), "num_generation_samples",
                                               "warning", "has no effect without generate_samples: true")]
