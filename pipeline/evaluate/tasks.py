"""Eval tasks as a registry: each kind of `train/eval/<name>.json` is one `EvalTask` class.

`train/eval/eval.json` is the haha sweep (kind `sweep`, its format unchanged); every other
`train/eval/<name>.json` names its kind in a `"kind"` key and may limit the configs it applies
to with `"configs": ["glob", ...]`. Without that, a config gets the tasks its training kind
lists by default (config/kinds.py). A task is four steps, so the driver (run.py) can load the
model once for all of them and write one results file:

    check(path)     -> the task's spec, or problems at file:line (used by `haha validate` too)
    plan(spec)      -> the units of work, pure
    run(...)        -> each unit's output, on the model; resumable where it is long
    assemble(...)   -> the results document with this task's part written in, pure

Adding a kind is adding a module that defines a subclass and decorates it with `@register_task`.
"""

from __future__ import annotations

import fnmatch
import importlib
import json
from abc import ABC, abstractmethod
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Generic, TypeVar

from pipeline.config.kinds import TrainingKind
from pipeline.config.loading import LoadedConfig
from pipeline.core.problems import Problem
from pipeline.core.registry import Registry
from pipeline.core.runner_settings import LoadIn
from pipeline.core.runs import AdapterRef, RunCost
from pipeline.core.strict_json import StrictJsonError, loads_strict
from pipeline.evaluate.model import ModelHandle
from pipeline.formats.results import ResultsDoc

SWEEP_FILE = "eval.json"
DEFAULT_BATCH_SIZE = 64

SpecT = TypeVar("SpecT")
UnitT = TypeVar("UnitT", bound=Hashable)
OutT = TypeVar("OutT", bound="TaskOutput")


@dataclass(frozen=True)
class Provenance:
    """Where the evaluated adapter came from, for the results file's `meta`."""

    hub_repo: str | None = None
    hub_revision: str | None = None
    adapter_source: str | None = None
    wandb_run: str | None = None  # entity/project/run_id, or None when there is no W&B page to link
    loss_steps: tuple[int, ...] = ()  # the training loss of the evaluated adapter, when its run is known
    losses: tuple[float, ...] = ()
    rewards: tuple[float, ...] = ()  # GRPO: the mean reward at each of those steps
    reward_model: AdapterRef | None = None  # GRPO: the reward adapter its training was scored by (haha_reward)
    parent: AdapterRef | None = None  # the parent adapter the evaluated one started from (haha_parent)
    base_model: str | None = None  # with a parent: the base model it was merged into (what meta names)
    cost: RunCost | None = None  # the training's GPUs and time; the eval adds its own time
    trained_with: Mapping[str, Any] | None = None  # what the pipeline changed for training (results/model.py)


@dataclass(frozen=True)
class Scorer:
    """A reward config's published adapter, fetched for what scores with it (best_of_n, the judge)."""

    ref: AdapterRef
    base_model: str
    adapter_dir: Path


@dataclass(frozen=True)
class EvalJob:
    """One config's eval: what to load, where the results go, and how to run."""

    config: LoadedConfig
    basename: str
    base_model: str
    adapter_dir: Path | None  # None evaluates the bare base model
    out_path: Path
    batch_size: int = DEFAULT_BATCH_SIZE
    max_new_tokens: int | None = None  # caps every setting (smoke runs)
    provenance: Provenance = field(default_factory=Provenance)
    time_limit: float | None = None  # seconds; past it a task stops after the batch in flight, progress kept
    reference: str | None = None  # "base" for the base model's reference sweep
    scorer: bool = False  # the config trains a reward model: load a sequence classifier
    scorers: Mapping[str, Scorer] = field(default_factory=dict)  # reward models by config basename
    template_row: Mapping[str, Any] | None = None  # the training data's first row: eval prompts are made like it
    data_dir: Path | None = None  # train/data: where image prompts' pictures are (None: no picture can be read)
    load: LoadIn = "16bit"  # how the base is loaded on CUDA (evaluate/model.py eval_load)


@dataclass(frozen=True)
class Progress:
    """What a progress view shows; `computed` counts units made by this run (not resumed ones)."""

    task: str
    done: int
    total: int
    computed: int
    seconds: float

    @property
    def rate(self) -> float:
        return self.computed / self.seconds if self.seconds > 0 else 0.0

    def describe(self) -> str:
        return f"eval {self.task} {self.done}/{self.total}, {self.rate:.1f}/s"


OnProgress = Callable[[Progress], None]


@dataclass
class TaskOutput:
    """A task's run: how many units it computed now and how many it resumed from disk."""

    computed: int = 0
    resumed: int = 0


@dataclass(frozen=True)
class EvalCost:
    """What a task file asks of the GPU, counted from its spec before any model loads: what `[tool.haha.budgets]`
    caps (core/budgets.py). New tokens are at most each setting's `max_new_tokens`: a run can only lower it."""

    cells: int = 0  # prompts x settings x seeds
    new_tokens: int = 0  # every completion at its longest, best-of-N candidates included
    candidates: int = 0  # best-of-N: cells x n
    items: int = 0  # multiple-choice items


class EvalTask(ABC, Generic[SpecT, UnitT, OutT]):
    kind: ClassVar[str]
    # Whether the task can run on a reward model, which scores text and generates none (config/kinds.py `scorer`).
    on_scorers: ClassVar[bool] = False

    @abstractmethod
    def check(self, path: Path, display: str) -> tuple[SpecT | None, list[Problem]]:
        """The parsed spec, or None and a problem per mistake at its line."""

    @abstractmethod
    def plan(self, spec: SpecT) -> Sequence[UnitT]:
        """Every unit of work, in the order the results list them."""

    @abstractmethod
    def run(self, job: EvalJob, spec: SpecT, units: Sequence[UnitT], model: ModelHandle,
            on_progress: OnProgress) -> OutT:
        """Compute the units on the model."""

    @abstractmethod
    def assemble(self, job: EvalJob, spec: SpecT, output: OutT, doc: ResultsDoc) -> ResultsDoc:
        """The results document with this task's part written in."""

    def cost(self, spec: SpecT) -> EvalCost:
        """What running the spec takes, in the figures budgets cap; a task that generates nothing costs none."""
        return EvalCost()

    def check_files(self, spec: SpecT, path: Path, display: str, data_dir: Path) -> list[Problem]:
        """Problems with the files the spec names (the sweep's pictures), each at its line; none by default."""
        return []

    def refusals(self, spec: SpecT, config: Mapping[str, Any]) -> list[tuple[str, str]]:
        """(key, why) for each part of the spec a config it applies to cannot run (a picture for a text model)."""
        return []

    def finish(self, job: EvalJob) -> None:
        """After the results file is written: drop what the task kept to resume (nothing, unless it keeps some)."""
        return


# By the `kind` a task file names; "kind" is what its messages call a name, as task files spell it.
TASKS: Registry[EvalTask[Any, Any, Any]] = Registry("kind")
# The modules whose import registers haha's own kinds; imported on first use, so reading a spec stays light.
BUILTIN_TASK_MODULES = ("pipeline.evaluate.sweep", "pipeline.evaluate.pairwise", "pipeline.evaluate.best_of_n",
                        "pipeline.evaluate.multiple_choice")

TaskClass = TypeVar("TaskClass", bound=type)


def register_task(cls: TaskClass) -> TaskClass:
    """Class decorator: make a task kind available to `train/eval/*.json` files."""
    TASKS.register(cls.kind, cls(), f"{cls.__module__}.{cls.__qualname__}")
    return cls


def registered() -> Registry[EvalTask[Any, Any, Any]]:
    """Every task kind, haha's own included."""
    for module in BUILTIN_TASK_MODULES:
        importlib.import_module(module)
    return TASKS


@dataclass(frozen=True)
class TaskFile:
    """One file in train/eval: its name (`eval` for eval.json), kind and the configs it is limited to."""

    name: str
    path: Path
    kind: str
    configs: tuple[str, ...] | None = None  # globs over config basenames; None: the training kind's defaults
    reward_model: str | None = None  # the reward config it scores with (best_of_n): that config runs first

    def applies_to(self, basename: str, default_kinds: Sequence[str]) -> bool:
        if self.configs is not None:
            return any(fnmatch.fnmatchcase(basename, pattern) for pattern in self.configs)
        return self.kind in default_kinds


def read_task_file(path: Path) -> tuple[TaskFile | None, str]:
    """A file's kind and config globs, or None and why they cannot be read (its full check is the kind's)."""
    if path.name == SWEEP_FILE:
        return TaskFile(path.stem, path, "sweep"), ""
    try:
        data = loads_strict(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError, StrictJsonError) as exc:
        return None, f"cannot read it as JSON: {exc}"
    tasks = registered()
    if not isinstance(data, dict) or not isinstance(data.get("kind"), str):
        return None, f"an eval task file needs a \"kind\" (one of: {', '.join(sorted(tasks))})"
    if data["kind"] not in tasks:
        return None, tasks.unknown(data["kind"])
    configs = data.get("configs")
    if configs is not None and not (isinstance(configs, list) and all(isinstance(c, str) for c in configs)):
        return None, "\"configs\" must be a list of glob patterns over config names"
    reward_model = data.get("rewardModel")
    return TaskFile(path.stem, path, data["kind"], tuple(configs) if configs is not None else None,
                    reward_model if isinstance(reward_model, str) else None), ""


def tasks_for(basename: str, default_kinds: Sequence[str], files: Sequence[TaskFile]) -> list[TaskFile]:
    """The task files that apply to a config. A sweep file whose "configs" names the config replaces eval.json for
    it, since a config gets one sweep: a caption config gets its sweep with pictures instead of the text one."""
    applying = [task for task in files if task.applies_to(basename, default_kinds)]
    named = any(task.kind == "sweep" and task.configs is not None for task in applying)
    return [task for task in applying if not (named and task.kind == "sweep" and task.configs is None)]


def unsuited(task: TaskFile, config_kind: TrainingKind) -> str | None:
    """Why a task file that applies to a config of `config_kind` cannot run on it, or None; validation refuses
    the pair by name, so the eval never meets it."""
    if config_kind.scorer and not registered()[task.kind].on_scorers:
        return (f"kind {task.kind} cannot run on a {config_kind.name} model, which scores text and generates none; "
                "narrow \"configs\" to leave it out")
    return None


def task_files(eval_dir: Path) -> list[tuple[Path, TaskFile | None, str]]:
    """Every JSON file in train/eval, eval.json first, with its task file or the reason it is unreadable."""
    paths = sorted(eval_dir.glob("*.json"), key=lambda p: (p.name != SWEEP_FILE, p.name))
    return [(path, *read_task_file(path)) for path in paths]


def _figure(value: Any) -> str:
    if isinstance(value, list | tuple):
        return " to ".join(_figure(part) for part in value)
    return f"{value:g}" if isinstance(value, float) else str(value)


PAIRWISE_CHANCE = 0.5  # a coin picks the chosen answer of a pair half the time


def headlines(evals: Mapping[str, Any]) -> list[str]:
    """One line per eval task of a results file, from its `metrics`: what the run's summary shows of each."""
    lines = []
    for name, result in evals.items():
        metrics = result.get("metrics") if isinstance(result, dict) else None
        if isinstance(metrics, dict):
            shown = ", ".join(f"{key} {_figure(value)}" for key, value in metrics.items())
            accuracy = metrics.get("accuracy")
            if result.get("kind") == "pairwise" and isinstance(accuracy, int | float) and accuracy < PAIRWISE_CHANCE:
                judge = ("the reward model scores" if result.get("scoring") == "reward"
                         else "the model finds more likely")
                shown += (f" (below chance, {PAIRWISE_CHANCE}: {judge} the rejected answer over the chosen one more "
                          "often than not)")
            lines.append(f"{name} ({result.get('kind', '?')}): {shown}")
    return lines

