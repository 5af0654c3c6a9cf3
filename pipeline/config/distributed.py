"""Checks of the keys that spread one config over several GPUs, and of the runner it asks for.

Axolotl's schema (replayed by config/schema.py) already refuses much, FSDP1-only options or Muon without
FSDP2, say. These are the rules it leaves to the launch, where they would cost a GPU job to learn:

- `deepspeed:` names one of the ZeRO configs Axolotl ships (`deepspeed_configs/<name>.json`, which the GPU job
  fetches with `axolotl fetch deepspeed_configs`) or a JSON file inside the repo, or is the config inline; an
  inline or repo config is checked key by key against what haha runs (config/sharding_policy.py), as is
  `fsdp_config`, each problem at its own line;
- DeepSpeed and FSDP are two ways to shard one run: a config picks one;
- ZeRO-3 partitions every parameter across GPUs, which bitsandbytes' 8-bit weights cannot be;
- sharding on a one-GPU runner shards nothing: the config's runner class should have several GPUs;
- `haha_runner` names a class of `[tool.haha.runners.classes]`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pipeline.config.loading import LoadedConfig
from pipeline.config.sharding_policy import deepspeed_config_problems, fsdp_config_problems
from pipeline.core.naming import basename_of
from pipeline.core.problems import Problem
from pipeline.core.settings import Settings
from pipeline.core.strict_json import StrictJsonError, loads_strict
from pipeline.core.yaml_text import key_lines, line_of
from pipeline.plan.runners import KEY as RUNNER_KEY
from pipeline.plan.runners import runner_for, runner_key_problem

# The files of axolotl-ai-cloud/axolotl's deepspeed_configs/ (v0.19), what `axolotl fetch deepspeed_configs` brings.
SHIPPED_DEEPSPEED = ("zero1.json", "zero1_torch_compile.json", "zero2.json", "zero2_torch_compile.json", "zero3.json",
                     "zero3_bf16.json", "zero3_bf16_cpuoffload_all.json", "zero3_bf16_cpuoffload_params.json",
                     "zero3_cpuoffload.json")
SHIPPED_FOLDER = "deepspeed_configs"


def repo_json(value: str, root: Path) -> tuple[Path | None, Any, str | None]:
    """`value` as a JSON file inside the repo (a relative path, checked after symlinks): its path, its contents, and
    why it cannot be read; (None, None, None) when it names no such file."""
    path = Path(value)
    candidate = (root / path).resolve()
    if path.is_absolute() or not candidate.is_relative_to(root.resolve()) or candidate.suffix != ".json" \
            or not candidate.is_file():
        return None, None, None
    try:
        return candidate, loads_strict(candidate.read_text(encoding="utf-8")), None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError, StrictJsonError) as exc:
        return candidate, None, str(exc)


def deepspeed_problem(value: Any, settings: Settings) -> str | None:
    """Why `deepspeed:` names no usable DeepSpeed config, or None (an inline mapping is the config itself)."""
    if isinstance(value, dict):
        return None
    if not isinstance(value, str):
        return f"must name a DeepSpeed JSON config, got {value!r}"
    path = Path(value)
    if path.parent == Path(SHIPPED_FOLDER) and path.name in SHIPPED_DEEPSPEED:
        return None
    found, _, unreadable = repo_json(value, settings.root)
    if found is not None:
        return None if unreadable is None else f"{value!r} is not a JSON DeepSpeed config: {unreadable}"
    shipped = ", ".join(f"{SHIPPED_FOLDER}/{name}" for name in SHIPPED_DEEPSPEED[:5])
    return (f"must be one of Axolotl's own configs ({shipped}, ...) or a JSON file inside the repo; got "
            f"{value!r}")


def _stage_of(mapping: Any) -> int | None:
    section = mapping.get("zero_optimization") if isinstance(mapping, dict) else None
    stage = section.get("stage") if isinstance(section, dict) else None
    if isinstance(stage, str) and stage.isdigit():
        stage = int(stage)
    return stage if isinstance(stage, int) and not isinstance(stage, bool) else None


def zero_stage(value: Any, root: Path) -> int | None:
    """The ZeRO stage a `deepspeed:` value selects, when it says: inline, in a JSON file of the repo, or by the name
    of one of Axolotl's files."""
    if isinstance(value, dict):
        return _stage_of(value)
    if not isinstance(value, str):
        return None
    found, contents, _ = repo_json(value, root)
    if found is not None:
        return _stage_of(contents)
    name = Path(value).name
    return next((stage for stage in (3, 2, 1) if name.startswith(f"zero{stage}")), None)


def sharding_config_problems(config: LoadedConfig, settings: Settings, display: str) -> list[Problem]:
    """The DeepSpeed config (inline, or a JSON file of the repo, at that file's lines) and `fsdp_config`, key by
    key; Axolotl's own shipped configs are its, fetched at run time, and not read here."""
    data = config.data
    deepspeed = data.get("deepspeed")
    found: list[Problem] = []
    if isinstance(deepspeed, dict):
        found += [Problem(display, config.line_of(key), key, message)
                  for key, message in deepspeed_config_problems(deepspeed, "deepspeed")]
    elif isinstance(deepspeed, str):
        path, contents, unreadable = repo_json(deepspeed, settings.root)
        if path is not None and unreadable is None:
            shown = str(path.relative_to(settings.root.resolve()))
            lines = key_lines(path.read_text(encoding="utf-8"))
            found += [Problem(shown, line_of(lines, key), key, f"{message} (the DeepSpeed config of {display})")
                      for key, message in deepspeed_config_problems(contents)]
    if "fsdp_config" in data and data["fsdp_config"] is not None:
        found += [Problem(display, config.line_of(key), key, message)
                  for key, message in fsdp_config_problems(data["fsdp_config"])]
    return found


def distributed_problems(config: LoadedConfig, settings: Settings, display: str) -> list[Problem]:
    data = config.data

    def problem(key: str, message: str, severity: str = "error") -> Problem:
        return Problem(display, config.line_of(key), key, message, severity)  # type: ignore[arg-type]

    problems = []
    if (why := runner_key_problem(data, settings.runners)) is not None:
        problems.append(problem(RUNNER_KEY, why))
    deepspeed = data.get("deepspeed")
    sharded_by_fsdp = bool(data.get("fsdp") or data.get("fsdp_config"))
    if deepspeed is not None and (why := deepspeed_problem(deepspeed, settings)) is not None:
        problems.append(problem("deepspeed", why))
    problems += sharding_config_problems(config, settings, display)
    if deepspeed is not None and sharded_by_fsdp:
        problems.append(problem("deepspeed", "DeepSpeed and FSDP both shard the run: keep one (deepspeed, or "
                                             "fsdp/fsdp_config)"))
    if zero_stage(deepspeed, settings.root) == 3 and data.get("load_in_8bit"):
        problems.append(problem("load_in_8bit", "ZeRO-3 partitions every weight across GPUs, and bitsandbytes' "
                                                "8-bit weights cannot be partitioned: use ZeRO-2, or 4-bit QLoRA"))
    if deepspeed is not None or sharded_by_fsdp:
        assignment = runner_for(basename_of(config.path), data, settings.runners)
        if assignment.runner.gpus == 1:
            key = "deepspeed" if deepspeed is not None else ("fsdp" if data.get("fsdp") else "fsdp_config")
            problems.append(problem(key, f"shards the run over GPUs, but its runner class {assignment.name!r} "
                                         f"({assignment.why}) has 1 GPU: set haha_runner, or a [tool.haha.runners] "
                                         "rule, to a class with several", "warning"))
    return problems
