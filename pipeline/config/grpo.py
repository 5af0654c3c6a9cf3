"""`rl: grpo` scored by `haha_reward`: online RL against another config's reward model.

Axolotl's GRPO (TRL's GRPOTrainer) generates `trl.num_generations` answers to each prompt and learns from how
`trl.reward_funcs` scores them. Those entries are dotted import paths, which is code, so the policy refuses them;
a config names a reward config of the repo in `haha_reward` instead, and the train stage hands Axolotl that config's
published adapter merged into its base as the one reward model (orchestration/parents.py, config/effective.py).

This module is the pure part: the rules `haha_reward` must meet, and GRPO's settings judged by TRL's `GRPOConfig`
itself, with its message at the key's line. Axolotl's own check of the same batch arithmetic runs with its schema
(config/schema.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from pipeline.config.kinds import ONLINE_RL, find_kind
from pipeline.config.lineage import REWARD_KEY, parent_path
from pipeline.config.loading import ConfigLoadError, LoadedConfig, load_config
from pipeline.core.naming import basename_of, is_basename
from pipeline.core.problems import Problem
from pipeline.core.quiet import quiet_libraries

# How Axolotl's own GRPO validator's messages begin (axolotl/utils/schemas/validation.py).
AXOLOTL_GRPO = "GRPO"
# The `trl` keys TRL's GRPOConfig checks in its `__post_init__` (the batch arithmetic, generations, loss), passed to
# it as Axolotl passes them (axolotl/core/trainers/grpo `set_training_args_kwargs`); the vLLM and reward keys are
# the policy's.
GRPO_ARGS = ("generation_batch_size", "num_generations", "max_completion_length", "beta", "num_iterations", "epsilon",
             "epsilon_high", "temperature", "top_p", "top_k", "min_p", "repetition_penalty", "loss_type",
             "scale_rewards", "importance_sampling_level", "mask_truncated_completions", "reward_weights")


def is_grpo(data: Mapping[str, Any]) -> bool:
    return str(data.get("rl") or "") in ONLINE_RL


def reward_problems(config: LoadedConfig, display: str) -> list[Problem]:
    """Why the config's `haha_reward` cannot score its GRPO run, or why a GRPO config lacks one."""
    data = config.data
    name = data.get(REWARD_KEY)

    def problem(message: str, key: str = REWARD_KEY) -> Problem:
        return Problem(display, config.line_of(key), key, message)

    if name in (None, ""):
        return [problem("GRPO learns from a reward model: name a reward config of train/config (reward_model: true) "
                        f"in {REWARD_KEY}; trl.reward_funcs is refused", "rl")] if is_grpo(data) else []
    if not is_grpo(data):
        return [problem("scores GRPO's generated answers: it needs rl: grpo")]
    if not is_basename(name):
        return [problem(f"must be the basename of a reward config in train/config (like haha-llama-3-8b-reward-001), "
                        f"got {name!r}")]
    if name == basename_of(config.path):
        return [problem("a config cannot score itself")]
    try:
        reward = load_config(parent_path(config.path, name))
    except (ConfigLoadError, OSError, UnicodeDecodeError):
        return [problem(f"no readable config {name}.yml beside this one in {config.path.parent}")]
    kind = find_kind(reward.data)
    if kind is None or not kind.scorer:
        return [problem(f"{name} does not train a reward model (reward_model: true): GRPO needs a scorer")]
    return []


def grpo_checked(schema_found: list[Problem], config: LoadedConfig, display: str) -> list[Problem]:
    """The schema's problems with Axolotl's own GRPO check (`check_grpo_batch_size_divisibility`, a validator of the
    whole config, so the schema places it at no key) moved to the `trl` key its message names; then `haha_reward`'s
    rules and GRPO's settings as TRL's `GRPOConfig` judges them, unless Axolotl already spoke about them."""
    data = config.data
    trl = data.get("trl") if isinstance(data.get("trl"), dict) else {}
    placed = [_at_trl_key(problem, config, trl) if is_grpo(data) and AXOLOTL_GRPO in problem.message else problem
              for problem in schema_found]
    axolotl_spoke = placed != schema_found
    return placed + reward_problems(config, display) + ([] if axolotl_spoke else grpo_problems(config, display))


def _at_trl_key(problem: Problem, config: LoadedConfig, trl: Mapping[str, Any]) -> Problem:
    key = _named_key(problem.message, trl)
    return replace(problem, line=config.line_of(key), key=key)


def _named_key(message: str, trl: Mapping[str, Any]) -> str:
    """The `trl` key a GRPO message is about: one the config sets that the message names (an explicit
    generation_batch_size first), else num_generations."""
    return next((f"trl.{name}" for name in GRPO_ARGS if name in trl and name in message),
                "trl.num_generations" if "num_generations" in message else "trl")


def grpo_problems(config: LoadedConfig, display: str) -> list[Problem]:
    """GRPO's settings as TRL's own `GRPOConfig` judges them (generations per prompt, the generation batch against
    micro_batch_size x gradient_accumulation_steps, completion length, beta), at the key its message names."""
    data = config.data
    block = data.get("trl")
    if not is_grpo(data) or not isinstance(block, dict | None):
        return []
    trl = block or {}
    found = [Problem(display, config.line_of(f"trl.{key}"), f"trl.{key}", message)
             for key, message in _own_problems(trl)]
    if found:
        return found
    message = grpo_config_error(data, trl)
    if message is None:
        return []
    key = _named_key(message, trl)
    return [Problem(display, config.line_of(key), key, f"TRL's GRPOConfig says: {message}")]


def _own_problems(trl: Mapping[str, Any]) -> list[tuple[str, str]]:
    """What TRL takes without a word and fails on later: no completion tokens, a negative KL weight, and reward weights
    for other reward functions than the one haha hands it (TRL's own words, from its trainer)."""
    found = []
    length = trl.get("max_completion_length")
    if length is not None and (not isinstance(length, int) or isinstance(length, bool) or length < 1):
        found.append(("max_completion_length", f"must be a whole number of tokens, at least 1, got {length!r}"))
    beta = trl.get("beta")
    if beta is not None and (not isinstance(beta, int | float) or isinstance(beta, bool) or beta < 0):
        found.append(("beta", f"the KL coefficient must be 0 or more (0 loads no reference model), got {beta!r}"))
    weights = trl.get("reward_weights")
    if isinstance(weights, list) and len(weights) != 1:
        found.append(("reward_weights", f"Number of reward weights ({len(weights)}) must match number of reward "
                                        "functions (1): haha_reward is the one reward function"))
    return found


def grpo_config_error(data: Mapping[str, Any], trl: Mapping[str, Any]) -> str | None:
    """TRL's `GRPOConfig.__post_init__` on the config's batch and GRPO values, on CPU; its message, or None."""
    kwargs = {key: trl[key] for key in GRPO_ARGS if trl.get(key) is not None and key != "reward_weights"}
    try:
        with quiet_libraries():  # importing TRL prints torchao's and torch's import noise
            from trl import GRPOConfig

            GRPOConfig(output_dir="unused", use_cpu=True, bf16=False, fp16=False, report_to="none",
                       per_device_train_batch_size=data.get("micro_batch_size") or 1,
                       gradient_accumulation_steps=data.get("gradient_accumulation_steps") or 1, **kwargs)
    except (ValueError, TypeError) as exc:
        return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return None
