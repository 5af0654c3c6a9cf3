"""Training kinds as a registry, keyed on the Axolotl keys that choose the trainer (`rl`, `reward_model`).

A kind says how haha checks and smoke-trains a config of that kind: which of Axolotl's dataset
models its `datasets` entries are validated against, which keys a smoke run adds, and which eval
tasks (evaluate/tasks.py) its configs get by default. Its rows are checked by Axolotl's own strategy
for each entry (data/strategies.py), so a kind needs no row format of its own. Adding a kind (DPO,
reward models) is adding a `TrainingKind` here.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pipeline.core.errors import HahaError
from pipeline.core.registry import Registry, nearest


class UnknownKindError(HahaError):
    """A config selects a trainer haha has no kind for yet."""


@dataclass(frozen=True)
class TrainingKind:
    name: str
    selects: Callable[[Mapping[str, Any]], bool]  # does this config (its rl / reward_model keys) choose this kind
    dataset_model: str  # the class in axolotl.utils.schemas.datasets its dataset entries validate against
    default_tasks: tuple[str, ...]  # eval task kinds its configs get unless a task file lists configs
    smoke_overrides: Mapping[str, Any] = field(default_factory=dict)  # keys a smoke run sets for this kind
    scorer: bool = False  # its adapter makes a reward model (a sequence classifier), not a generator
    rl: tuple[str, ...] = ()  # the values of Axolotl's `rl` key it runs, for the suggestion a typo of one gets


# In registration order, which is the order `find_kind` tries them in.
KINDS: Registry[TrainingKind] = Registry("training kind")


def register_kind(kind: TrainingKind) -> TrainingKind:
    """Make a kind available to configs; the registrant named in a clash is the module that called this."""
    return KINDS.register(kind.name, kind, sys._getframe(1).f_globals.get("__name__", "?"))


def _trainer_keys(config: Mapping[str, Any]) -> str:
    chosen = [f"{key}: {config[key]}" for key in ("rl", "reward_model", "process_reward_model") if config.get(key)]
    return ", ".join(chosen) or "no rl or reward_model key"


def find_kind(config: Mapping[str, Any]) -> TrainingKind | None:
    """The kind this config selects; None when haha has none for it."""
    return next((kind for kind in KINDS.values() if kind.selects(config)), None)


def _rl_suggestion(config: Mapping[str, Any]) -> str:
    """`; did you mean rl: dpo?` when the config's `rl` is a near miss of one a kind runs."""
    rl = config.get("rl")
    meant = nearest(rl, (value for kind in KINDS.values() for value in kind.rl)) if isinstance(rl, str) else None
    return f"; did you mean rl: {meant}?" if meant else ""


def kind_of(config: Mapping[str, Any]) -> TrainingKind:
    """The kind this config selects, or UnknownKindError naming the keys, the kinds haha has and, for a typo in
    `rl`, the value it likely meant."""
    if (kind := find_kind(config)) is not None:
        return kind
    raise UnknownKindError(f"{_trainer_keys(config)}: haha has no training kind for this yet (it runs: "
                           f"{', '.join(KINDS)}){_rl_suggestion(config)}")


SFT = register_kind(TrainingKind(
    name="sft",
    selects=lambda config: not any(config.get(key) for key in ("rl", "reward_model", "process_reward_model")),
    dataset_model="SFTDataset",
    default_tasks=("sweep", "best_of_n", "pairwise", "multiple_choice"),
))

# Axolotl's `rl` trainers that learn from (prompt, chosen, rejected) pairs; KTO's, from single answers; GRPO's, online
# from prompts alone. data/strategies.py picks Axolotl's dataset path by these.
PAIRWISE_RL = ("dpo", "ipo", "orpo", "simpo")
KTO_RL = ("kto",)
ONLINE_RL = ("grpo",)

PREFERENCE = register_kind(TrainingKind(
    name="preference",
    selects=lambda config: str(config.get("rl") or "") in PAIRWISE_RL and not config.get("reward_model"),
    dataset_model="DPODataset",
    default_tasks=("sweep", "best_of_n", "pairwise", "multiple_choice"),
    # A step runs chosen and rejected through the policy and the reference: 8 pairs took 11 s a step on the
    # embedded model on 2 CPU cores, 4 pairs 6 s; 2 pairs keep make demo's DPO near the SFT run's time.
    smoke_overrides={"micro_batch_size": 2},
    rl=PAIRWISE_RL,
))

# KTO learns from single answers marked desirable or not (`label`), not from pairs.
KTO = register_kind(TrainingKind(
    name="kto",
    selects=lambda config: str(config.get("rl") or "") in KTO_RL and not config.get("reward_model"),
    dataset_model="KTODataset",
    default_tasks=("sweep", "best_of_n", "pairwise", "multiple_choice"),
    # TRL's KTO estimates its KL term from the other answers in a micro-batch: one answer alone gives none.
    smoke_overrides={"micro_batch_size": 2},
    rl=KTO_RL,
))

REWARD = register_kind(TrainingKind(
    name="reward",
    selects=lambda config: bool(config.get("reward_model")) and not config.get("rl"),
    dataset_model="SFTDataset",
    default_tasks=("pairwise",),  # a reward model scores text; it cannot run the sweep
    smoke_overrides={"micro_batch_size": 4},  # a step scores chosen and rejected: 8 pairs took 4 s on 2 CPU cores
    scorer=True,
))

# Online RL: TRL's GRPOTrainer generates `trl.num_generations` answers to each prompt and learns from how the reward
# model named in `haha_reward` (config/grpo.py) scores them against each other. Its datasets are Axolotl's rl model.
GRPO = register_kind(TrainingKind(
    name="grpo",
    selects=lambda config: str(config.get("rl") or "") in ONLINE_RL and not config.get("reward_model"),
    dataset_model="DPODataset",
    default_tasks=("sweep", "best_of_n", "pairwise", "multiple_choice"),
    # A step generates every answer token by token, then scores and trains on them: one prompt, two answers of at
    # most 16 tokens took 1.5 s a step on the embedded model on 2 CPU cores (TRL's defaults, 8 answers of 256
    # tokens, would take minutes). `trl` is merged into the config's own block (config/effective.py).
    smoke_overrides={"micro_batch_size": 2, "trl": {"num_generations": 2, "max_completion_length": 16}},
    rl=ONLINE_RL,
))
