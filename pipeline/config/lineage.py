"""`haha_parent`: a config that starts from another config's adapter ("SFT first, then DPO from it").

The child names its parent by basename. At training time the pipeline fetches the parent's published
adapter, merges it into the base model and trains the child on that merged model (train/merge.py):
the one way that works for every training kind, since Axolotl's `lora_model_dir` is silently ignored
by its DPO/IPO/KTO trainers (they build a fresh LoRA from the config). For DPO this also makes the
reference model the parent, as the recipe wants.

A GRPO config's `haha_reward` (config/grpo.py) is the other need a config names itself. This module is the pure
part: the rules a parent must meet, and the order that puts what a config needs first.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from pipeline.config.loading import ConfigLoadError, LoadedConfig, load_config
from pipeline.core.naming import basename_of, is_basename
from pipeline.core.problems import Problem

PARENT_KEY = "haha_parent"
REWARD_KEY = "haha_reward"
# What a config needs to have run before it: basenames of configs beside it.
Needs = Callable[[Path], Sequence[str]]
# Axolotl's own "start from this adapter" key: with a parent, haha decides where training starts.
ADAPTER_SET_BY_HAHA = "lora_model_dir"


def parent_of(data: dict[str, Any]) -> str | None:
    """The parent's basename, when the config names one."""
    value = data.get(PARENT_KEY)
    return value if isinstance(value, str) and value else None


def parent_path(config_path: Path, parent: str) -> Path:
    """Parents live beside their children in train/config."""
    return config_path.parent / f"{parent}.yml"


def lineage(config_path: Path, read_parent: Callable[[Path], str | None]) -> list[str]:
    """The chain of basenames from this config up through its ancestors; stops at a loop or a missing file."""
    chain = [basename_of(config_path)]
    path = config_path
    while (parent := read_parent(path)) is not None:
        chain.append(parent)
        if chain.count(parent) > 1:
            break
        path = parent_path(config_path, parent)
    return chain


def reward_of(data: dict[str, Any]) -> str | None:
    """The reward config's basename, when a GRPO config names one in `haha_reward` (config/grpo.py)."""
    value = data.get(REWARD_KEY)
    return value if isinstance(value, str) and value else None


def named_needs(path: Path) -> list[tuple[str, str]]:
    """(key, basename) for each config this one names in its own keys, parent first: its `haha_parent`, and the
    `haha_reward` that scores it; none when the file cannot be read (validation reports that)."""
    try:
        data = load_config(path).data
    except (ConfigLoadError, OSError, UnicodeDecodeError):
        return []
    return [(key, name) for key, name in ((PARENT_KEY, parent_of(data)), (REWARD_KEY, reward_of(data)))
            if name is not None]


def own_needs(path: Path) -> list[str]:
    """What `needs_first` reads from the config's own keys."""
    return [name for _, name in named_needs(path)]


def read_parent_key(path: Path) -> str | None:
    return next((name for key, name in named_needs(path) if key == PARENT_KEY), None)


def parent_problems(config: LoadedConfig, display: str) -> list[Problem]:
    """Why the config's `haha_parent` cannot be trained from, one problem per reason."""
    data = config.data
    if PARENT_KEY not in data or data[PARENT_KEY] in (None, ""):
        return []

    def problem(message: str, key: str = PARENT_KEY) -> Problem:
        return Problem(display, config.line_of(key), key, message)

    name = data[PARENT_KEY]
    if not is_basename(name):
        return [problem(f"must be the basename of another config in train/config (like haha-llama-3-8b-lora-001), "
                        f"got {name!r}")]
    if name == basename_of(config.path):
        return [problem("a config cannot start from itself")]
    path = parent_path(config.path, name)
    try:
        parent = load_config(path)
    except (ConfigLoadError, OSError, UnicodeDecodeError):
        return [problem(f"no readable config {name}.yml beside this one in {config.path.parent}")]
    problems = []
    chain = lineage(config.path, read_parent_key)
    if chain.count(chain[-1]) > 1:
        problems.append(problem(f"the haha_parent chain loops: {' → '.join(chain)}"))
    elif len(chain) > 2:
        problems.append(problem(f"{name} starts from {chain[2]} itself: haha merges one parent's adapter into the "
                                "base model, not a chain (start from the last config with no haha_parent)"))
    from pipeline.config.kinds import find_kind

    if (own_kind := find_kind(data)) is not None and own_kind.scorer:
        problems.append(problem("a reward model cannot start from a parent: best-of-N and the judge load its "
                                "adapter on its base model"))
    parent_kind = find_kind(parent.data)
    if parent_kind is not None and parent_kind.scorer:
        problems.append(problem(f"{name} trains a reward model (a scorer): there is no generator adapter to start "
                                "from"))
    if parent.data.get("base_model") != data.get("base_model"):
        problems.append(problem(f"must be {name}'s base_model {parent.data.get('base_model')!r}: its adapter was "
                                "trained on that model", "base_model"))
    if data.get(ADAPTER_SET_BY_HAHA):
        problems.append(problem(f"leave it out: with haha_parent the pipeline starts from {name}'s published "
                                "adapter itself", ADAPTER_SET_BY_HAHA))
    return problems


def needs_first(paths: Sequence[Path], needs: Needs) -> list[Path]:
    """`paths` reordered so each config comes after the configs it needs (its parent, the reward model its GRPO or
    best-of-N scores with) when they are in the list; otherwise the order is kept."""
    by_name = {basename_of(path): path for path in paths}
    ordered: list[Path] = []
    placing: set[str] = set()

    def place(path: Path) -> None:
        name = basename_of(path)
        if path in ordered or name in placing:
            return
        placing.add(name)
        for needed in needs(path):
            if needed in by_name:
                place(by_name[needed])
        ordered.append(path)

    for path in paths:
        place(path)
    return ordered
