"""What each config needs to have run before it: its `haha_parent`, its `haha_reward` (GRPO), and the reward
model of any best-of-N eval that applies to it. Read from the repo's files; `needs_first` (config/lineage.py)
orders by it."""

from __future__ import annotations

from pathlib import Path

from pipeline.config.kinds import find_kind
from pipeline.config.lineage import Needs, own_needs
from pipeline.config.loading import ConfigLoadError, load_config
from pipeline.core.naming import basename_of, is_basename
from pipeline.evaluate.tasks import task_files


def needs_of(eval_dir: Path) -> Needs:
    """A `Needs` over the task files in `eval_dir` as they are now."""
    scoring = [task for _, task, _ in task_files(eval_dir)
               if task is not None and task.reward_model and is_basename(task.reward_model)]

    def needs(path: Path) -> list[str]:
        found = own_needs(path)
        try:
            kind = find_kind(load_config(path).data)
        except (ConfigLoadError, OSError, UnicodeDecodeError):
            return found
        defaults = kind.default_tasks if kind is not None else ()
        name = basename_of(path)
        return found + [task.reward_model for task in scoring
                        if task.reward_model and task.reward_model != name and task.applies_to(name, defaults)]

    return needs
