"""Checks of Axolotl's `generate_samples` keys: samples generated during training, which the pipeline copies into
the run folder and the report.

Axolotl's schema only types these keys. What it does with them decides the rest: its SFT trainer adds
`SFTGenerationCallback`, which generates at each *evaluation* (so a config that never evaluates never
samples), catches every generation error as a log warning (so a temperature of 0 with sampling on, which
transformers refuses, silently yields nothing), and exists only for SFT (DPO, reward models never sample).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pipeline.config.kinds import SFT
from pipeline.config.loading import LoadedConfig
from pipeline.core.numbers import as_number
from pipeline.core.problems import Problem

SWITCH = "generate_samples"
# The keys that shape the samples, with the values that make sense for each.
RANGES: dict[str, tuple[Callable[[float], bool], str]] = {
    "num_generation_samples": (lambda v: v >= 1 and v == int(v), "a whole number of at least 1"),
    "generation_max_new_tokens": (lambda v: v >= 1 and v == int(v), "a whole number of at least 1"),
    "generation_temperature": (lambda v: v >= 0, "a number of at least 0"),
    "generation_top_p": (lambda v: 0 < v <= 1, "a number above 0 and at most 1"),
    "generation_top_k": (lambda v: v >= 1 and v == int(v), "a whole number of at least 1"),
    "generation_prompt_ratio": (lambda v: 0 <= v <= 1, "a number from 0 to 1 (the share of an eval row's tokens "
                                                       "used as the prompt)"),
}
SHAPING_KEYS = (*RANGES, "generation_do_sample")


def evaluates(data: dict[str, Any]) -> bool:
    """Whether Axolotl will run evaluations: an eval split or eval datasets, and a schedule that is not zero."""
    has_eval_rows = bool(data.get("test_datasets")) or bool(as_number(data.get("val_set_size")))
    return has_eval_rows and data.get("evals_per_epoch") != 0 and data.get("eval_strategy") != "no"


def generation_problems(config: LoadedConfig, display: str, kind_name: str | None) -> list[Problem]:
    data = config.data

    def problem(key: str, message: str, severity: str = "error") -> Problem:
        return Problem(display, config.line_of(key), key, message, severity)  # type: ignore[arg-type]

    problems = []
    for key, (fits, wanted) in RANGES.items():
        value = data.get(key)
        if value is not None and ((number := as_number(value)) is None or not fits(number)):
            problems.append(problem(key, f"must be {wanted}, got {value!r}"))
    if not data.get(SWITCH):
        problems += [problem(key, f"has no effect without {SWITCH}: true", "warning")
                     for key in SHAPING_KEYS if data.get(key) is not None]
        return problems
    if kind_name not in (None, SFT.name):
        problems.append(problem(SWITCH, f"Axolotl generates samples in SFT training only; this {kind_name} config "
                                        "will log none", "warning"))
    elif not evaluates(data):
        problems.append(problem(SWITCH, "Axolotl generates samples at each evaluation, and this config never "
                                        "evaluates: set val_set_size (e.g. 0.05) and eval_steps", "warning"))
    if data.get("generation_do_sample", True) and as_number(data.get("generation_temperature")) == 0:
        problems.append(problem("generation_temperature", "0 with generation_do_sample on: transformers refuses it "
                                                          "and Axolotl logs no sample; set generation_do_sample: "
                                                          "false for greedy samples", "warning"))
    return problems
