"""Which runner class a config trains on: its `haha_runner` key, else the first `[tool.haha.runners]` rule it
matches, else the default. Pure: the plan, `haha train` and validation all call `runner_for`, so the job a
config lands on and the processes Axolotl starts there always agree."""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pipeline.core.runner_settings import LoadIn, RunnerClass, RunnerRule, RunnerSettings

KEY = "haha_runner"  # a haha key: read here, stripped from the effective config
# "70B", "8b", "1.5B", "135M", "8x7B" (a mixture of experts: all its experts' weights are loaded)
SIZE = re.compile(r"(?<![A-Za-z0-9.])(?:(\d+)x)?(\d+(?:\.\d+)?)([bBmM])(?![A-Za-z])")


@dataclass(frozen=True)
class Assignment:
    name: str
    runner: RunnerClass
    why: str  # "haha_runner", "rule 2", "default": what chose it

    @property
    def runs_on(self) -> list[str]:
        return ["self-hosted", *self.runner.labels]


def params_in_billions(model_id: str) -> float | None:
    """The parameter count a model's name states (`meta-llama/Meta-Llama-3-70B` -> 70.0), or None. The largest
    size named wins: `Qwen2.5-7B-Instruct-1M` is 7B with a 1M-token context."""
    sizes = [float(size) * (int(experts) if experts else 1) / (1 if unit in "bB" else 1000)
             for experts, size, unit in SIZE.findall(model_id.rsplit("/", 1)[-1])]
    return max(sizes, default=None)


def load_in(config: Mapping[str, Any]) -> LoadIn:
    if config.get("load_in_4bit"):
        return "4bit"
    return "8bit" if config.get("load_in_8bit") else "16bit"


def rule_matches(rule: RunnerRule, basename: str, config: Mapping[str, Any]) -> bool:
    if rule.configs is not None and not any(fnmatch.fnmatchcase(basename, glob) for glob in rule.configs):
        return False
    if rule.load_in is not None and rule.load_in != load_in(config):
        return False
    if rule.min_params_b is None and rule.max_params_b is None:
        return True
    size = params_in_billions(str(config.get("base_model") or ""))
    if size is None:
        return False
    return ((rule.min_params_b is None or size >= rule.min_params_b)
            and (rule.max_params_b is None or size <= rule.max_params_b))


def runner_for(basename: str, config: Mapping[str, Any], runners: RunnerSettings) -> Assignment:
    """The class this config trains on. An unknown `haha_runner` falls back to the default (validation refuses it)."""
    chosen = config.get(KEY)
    if isinstance(chosen, str) and chosen in runners.classes:
        return Assignment(chosen, runners.classes[chosen], KEY)
    for number, rule in enumerate(runners.rules, start=1):
        if rule_matches(rule, basename, config):
            return Assignment(rule.use, runners.classes[rule.use], f"rule {number}")
    return Assignment(runners.default, runners.classes[runners.default], "default")


def runner_key_problem(config: Mapping[str, Any], runners: RunnerSettings) -> str | None:
    """Why the config's `haha_runner` cannot be used, or None."""
    chosen = config.get(KEY)
    if chosen is None:
        return None
    if not isinstance(chosen, str) or chosen not in runners.classes:
        return (f"must name a runner class of [tool.haha.runners.classes] ({', '.join(sorted(runners.classes))}), "
                f"got {chosen!r}")
    return None
