"""Repo-wide settings: one place, `[tool.haha]` in pyproject.toml, overridable by environment.

Every stage reads the Hub org, W&B project, data mount and allow-lists from here so that
no module grows its own idea of them.
"""

from __future__ import annotations

import math
import os
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from pipeline.core.budgets import Budgets
from pipeline.core.errors import HahaError
from pipeline.core.judge_settings import JUDGE_KINDS, JudgeSettings, RewardJudgeSettings
from pipeline.core.runner_settings import RunnerSettings

SectionT = TypeVar("SectionT", bound=BaseModel)

ENV_OVERRIDES = {
    "hub_org": "HAHA_HUB_ORG",
    "wandb_project": "HAHA_WANDB_PROJECT",
    "wandb_entity": "HAHA_WANDB_ENTITY",
    "data_mount": "HAHA_DATA_MOUNT",
    "train_timeout_s": "HAHA_TRAIN_TIMEOUT_S",
    "eval_timeout_s": "HAHA_EVAL_TIMEOUT_S",
}


@dataclass(frozen=True)
class Settings:
    root: Path
    hub_org: str = "haha-lab"
    hub_private: bool = True
    wandb_project: str = "haha"
    wandb_entity: str = ""
    data_mount: str = "/workspace/data"
    allowed_plugins: tuple[str, ...] = ()
    # base model id -> the revision it must pin to be allowed `trust_remote_code: true`
    trust_remote_code_models: dict[str, str] = field(default_factory=dict)
    # the chat templates a config may train with: Axolotl's names (`chatml`, `llama3`, ...), `tokenizer_default`
    # (the base model's own) or `jinja` (a reviewed custom one); the haha convention trains with ChatML
    chat_templates: tuple[str, ...] = ("chatml",)
    # sha256 of each reviewed custom Jinja chat template (`chat_template: jinja` + `chat_template_jinja`)
    allowed_chat_templates: tuple[str, ...] = ()
    # folders outside the repo that configs may name as a local base model (e.g. a GPU box's model store)
    model_dirs: tuple[str, ...] = ()
    # wall-clock limits: a training run is stopped with its workers, an eval sweep after its batch in flight. Together
    # they stay under the GPU job's 24 h (train.yml timeout-minutes), leaving time to set up, to
    # upload what a stopped run keeps (its checkpoints, the eval's progress) and to hand on its results.
    train_timeout_s: float = 18 * 3600
    eval_timeout_s: float = 4 * 3600
    # the reward config whose published adapter scores every config's sweep completions (haha judge, haha rank)
    judge: str | None = None
    # every judge by name, `judge` included as "reward" (core/judge_settings.py)
    judges: dict[str, JudgeSettings] = field(default_factory=dict)
    # which self-hosted runners each config trains on, and with how many GPUs (haha plan, haha train)
    runners: RunnerSettings = field(default_factory=RunnerSettings)
    # what one config or eval file may ask of the GPU runner (core/budgets.py), checked by haha validate
    budgets: Budgets = field(default_factory=Budgets)

    @property
    def config_dir(self) -> Path:
        return self.root / "train" / "config"

    @property
    def data_dir(self) -> Path:
        return self.root / "train" / "data"

    @property
    def eval_dir(self) -> Path:
        return self.root / "train" / "eval"

    @property
    def eval_file(self) -> Path:
        """The haha sweep's spec; other eval tasks live beside it (evaluate/tasks.py)."""
        return self.eval_dir / "eval.json"

    @property
    def gpu_requirements(self) -> Path:
        """The GPU runner's environment, declared once: what train.yml's `make setup-gpu` installs."""
        return self.root / "gpu-requirements.txt"

    @property
    def results_dir(self) -> Path:
        return self.root / "train" / "results"

    def results_file(self, basename: str) -> Path:
        """Where a config's results are committed (`haha run`; smoke runs use results_path with their own folder)."""
        return results_path(self.results_dir, basename)


def results_path(results_dir: Path, basename: str) -> Path:
    """`<results_dir>/<basename>.json`: the one place a config's results file is named."""
    return results_dir / f"{basename}.json"


def cache_root() -> Path:
    """Where converted and generated models live across runs and clones: `HAHA_CACHE`, else the user cache."""
    if env_cache := os.environ.get("HAHA_CACHE"):
        return Path(env_cache)
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "haha"


def find_root(start: Path | None = None) -> Path:
    """The repo root: `HAHA_ROOT`, else the nearest parent whose pyproject.toml has `[tool.haha]`."""
    if env_root := os.environ.get("HAHA_ROOT"):
        return Path(env_root).resolve()
    here = (start or Path.cwd()).resolve()
    for candidate in (here, *here.parents):
        pyproject = candidate / "pyproject.toml"
        if pyproject.is_file() and "haha" in tomllib.loads(pyproject.read_text()).get("tool", {}):
            return candidate
    raise SettingsError(f"no pyproject.toml with a [tool.haha] table in {here} or its parents; run haha inside the "
                        "repo or set HAHA_ROOT")


class SettingsError(HahaError):
    """`[tool.haha]` or a HAHA_* variable holds something haha cannot use; the message names which."""


def load_settings(root: Path | None = None) -> Settings:
    """`[tool.haha]` of the repo, with HAHA_* environment overrides on top."""
    root = root or find_root()
    try:
        return _read_settings(root)
    except (OSError, tomllib.TOMLDecodeError, TypeError, ValueError) as exc:
        raise SettingsError(f"{root / 'pyproject.toml'} [tool.haha] or a HAHA_* variable: {exc}") from None


def _runners(table: Any) -> RunnerSettings:
    return _section(RunnerSettings, table, "runners")


def _section(model: type[SectionT], table: Any, name: str) -> SectionT:
    """A `[tool.haha.<name>]` table as its model, or a ValueError naming each bad key as `<name>.<key>`."""
    try:
        return model.model_validate(table)
    except ValidationError as exc:
        found = [(".".join(str(part) for part in e["loc"]), e["msg"].removeprefix("Value error, "))
                 for e in exc.errors()]
        raise ValueError("; ".join(f"{name}.{where}: {message}" if where else f"{name}: {message}"
                                   for where, message in found)) from None


def _judges(table: Any, reward_config: str | None) -> dict[str, JudgeSettings]:
    """`[tool.haha.judges.<name>]` by name, each parsed by its kind's model; `judge = "<config>"` is the judge
    named "reward" unless a table of that name says otherwise."""
    if not isinstance(table, dict) or not all(isinstance(entry, dict) for entry in table.values()):
        raise ValueError("judges: each judge is a [tool.haha.judges.<name>] table with a `kind`")
    judges: dict[str, JudgeSettings] = {}
    if reward_config:
        judges["reward"] = RewardJudgeSettings(config=reward_config)
    for name, entry in table.items():
        kind = str(entry.get("kind", ""))
        if kind not in JUDGE_KINDS:
            raise ValueError(f"judges.{name}.kind: {JUDGE_KINDS.unknown(kind)}")
        judges[str(name)] = _section(JUDGE_KINDS[kind], entry, f"judges.{name}")
    return judges


def _read_settings(root: Path) -> Settings:
    table = tomllib.loads((root / "pyproject.toml").read_text()).get("tool", {}).get("haha", {})
    settings = Settings(
        root=root,
        hub_org=str(table.get("hub_org", Settings.hub_org)),
        hub_private=bool(table.get("hub_private", Settings.hub_private)),
        wandb_project=str(table.get("wandb_project", Settings.wandb_project)),
        wandb_entity=str(table.get("wandb_entity", Settings.wandb_entity)),
        data_mount=str(table.get("data_mount", Settings.data_mount)),
        allowed_plugins=tuple(table.get("allowed_plugins", ())),
        trust_remote_code_models=dict(table.get("trust_remote_code_models", {})),
        chat_templates=tuple(str(name) for name in table.get("chat_templates", Settings.chat_templates)),
        allowed_chat_templates=tuple(table.get("allowed_chat_templates", ())),
        model_dirs=tuple(str((root / d).resolve()) for d in table.get("model_dirs", ())),
        train_timeout_s=float(table.get("train_timeout_s", Settings.train_timeout_s)),
        eval_timeout_s=float(table.get("eval_timeout_s", Settings.eval_timeout_s)),
        judge=str(table["judge"]) if table.get("judge") else None,
        judges=_judges(table.get("judges", {}), str(table["judge"]) if table.get("judge") else None),
        runners=_runners(table.get("runners", {})),
        budgets=_section(Budgets, table.get("budgets", {}), "budgets"),
    )
    overrides: dict[str, Any] = {name: os.environ[var] for name, var in ENV_OVERRIDES.items() if os.environ.get(var)}
    for limit in ("train_timeout_s", "eval_timeout_s"):
        if limit in overrides:
            try:
                overrides[limit] = float(overrides[limit])
            except ValueError:
                raise ValueError(f"{ENV_OVERRIDES[limit]}={overrides[limit]!r} is not a number of seconds") from None
    settings = replace(settings, **overrides)
    for limit in ("train_timeout_s", "eval_timeout_s"):
        value = getattr(settings, limit)
        if not math.isfinite(value) or value <= 0:
            where = ENV_OVERRIDES[limit] if limit in overrides else f"[tool.haha] {limit}"
            raise ValueError(f"{where} must be a positive number of seconds, got {value:g}")
    return settings
