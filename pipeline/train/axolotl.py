"""The Axolotl boundary: run `axolotl train` as a child process and prove it produced an adapter.

Exit code 0 from Axolotl is not proof, so success is the adapter files on disk plus a
completion record holding the config's sha256. The same record makes re-runs skip, and
Axolotl's `auto_resume_from_checkpoints` makes a cancelled run resume where it stopped.
"""

from __future__ import annotations

import ast
import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from pipeline.core.errors import HahaError
from pipeline.core.files import write_atomic
from pipeline.core.runs import AdapterRef, RunPaths, TrainRecord
from pipeline.formats.tracking import WandbMode
from pipeline.train.axolotl_log import packing_efficiency, training_samples
from pipeline.train.child import run_child
from pipeline.train.tracking import wandb_env

# The trainer's bar has no label; dataset bars ("Mapping RL Dataset (num_proc=2): 100%|...| 48/48") do.
STEP_PATTERN = re.compile(r"^\s*\d+%\|[^|]*\|\s*(\d+)/(\d+) \[[\d:]+<([\d:?]+)")
METRICS_PATTERN = re.compile(r"^\{'(?:train_)?loss'.*\}$")
ALL_ROWS_DROPPED = "num_samples=0"


class TrainingError(HahaError):
    """Training did not produce an adapter; the message says why and what to do."""


class TrainingInterrupted(KeyboardInterrupt):
    """We were asked to stop (a cancelled job, Ctrl-C): not a failure of this config, so the run ends here.

    A KeyboardInterrupt, so the per-config `except Exception` in `haha run` lets it through.
    """


@dataclass
class Progress:
    """What the progress view shows; updated from Axolotl's output as lines arrive."""

    step: int = 0
    total: int = 0
    eta: str = ""
    losses: list[float] = field(default_factory=list)
    rewards: list[float | None] = field(default_factory=list)  # GRPO's mean reward beside each loss (TRL's `reward`)

    def update(self, line: str) -> bool:
        """Fold one output line in; True when something visible changed."""
        if match := STEP_PATTERN.search(line):
            self.step, self.total, self.eta = int(match[1]), int(match[2]), match[3]
            return True
        if METRICS_PATTERN.match(line.strip()):
            try:
                metrics = ast.literal_eval(line.strip())
            except (ValueError, SyntaxError):
                return False
            if "loss" in metrics:
                self.losses.append(float(metrics["loss"]))
                self.rewards.append(float(metrics["reward"]) if "reward" in metrics else None)
                return True
        return False

    def describe(self) -> str:
        loss = f"loss {self.losses[-1]:.4f}" if self.losses else "loss -"
        steps = f"step {self.step}/{self.total}" if self.total else "preparing"
        return f"{steps}  {loss}  eta {self.eta or '-'}"


@dataclass(frozen=True)
class Launch:
    """How Axolotl starts the training: one process, or one per GPU through its accelerate or torchrun launcher
    (the runner class's `gpus` and `launcher`, plan/runners.py)."""

    launcher: str | None = None
    processes: int = 1

    def args(self) -> list[str]:
        """`--launcher python` needs no accelerate config; the others get the process count after `--`."""
        if self.launcher is None or self.processes == 1:
            return ["--launcher", "python"]
        count = "--num_processes" if self.launcher == "accelerate" else "--nproc_per_node"
        return ["--launcher", self.launcher, "--", count, str(self.processes)]


def axolotl_command(config_path: Path, launch: Launch = Launch()) -> list[str]:
    """`axolotl train` from the venv running us."""
    return [str(Path(sys.executable).parent / "axolotl"), "train", str(config_path), *launch.args()]


def gpu_inventory() -> tuple[str | None, int]:
    """The GPUs this box has, as nvidia-smi names them, and how many; (None, 0) without one."""
    try:
        listed = subprocess.run(["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"], capture_output=True,
                                text=True, timeout=30, check=True).stdout.split("\n")
    except (OSError, subprocess.SubprocessError):
        return None, 0
    names = [line.strip() for line in listed if line.strip()]
    return (names[0], len(names)) if names else (None, 0)


def child_env(run: RunPaths, wandb_mode: WandbMode, local_model: bool) -> dict[str, str]:
    """The training child's environment; a base model in a local folder needs nothing from the Hub."""
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["AXOLOTL_DO_NOT_TRACK"] = "1"
    if local_model:
        env["HF_HUB_OFFLINE"] = "1"
    env["PYTHONUNBUFFERED"] = "1"
    return wandb_env(env, wandb_mode, run.run_dir)


def checkpoint_complete(checkpoint: Path) -> bool:
    """The Trainer writes trainer_state.json last, after weights, optimizer and RNG state."""
    try:
        json.loads((checkpoint / "trainer_state.json").read_text())
    except (OSError, json.JSONDecodeError):
        return False
    return True


def checkpoint_finished(checkpoint: Path) -> bool:
    """Whether a checkpoint was saved at the training's last step. Transformers resuming from one checks for the
    end only after a step, so it trains one step past max_steps (a run whose final save failed, a full disk say,
    did 5 steps of 4 on its re-run)."""
    try:
        state = json.loads((checkpoint / "trainer_state.json").read_text())
        return 0 < int(state["max_steps"]) <= int(state["global_step"])
    except (OSError, ValueError, KeyError, TypeError):
        return False


def discard_unresumable_checkpoints(adapter_dir: Path) -> list[Path]:
    """Remove the checkpoints Axolotl's auto-resume (which takes the newest) must not start from: one a kill cut off
    mid-save, which it would crash on, and one of a finished training, from which it would train a step too many.
    The run resumes from the one before, or starts again."""
    unresumable = [c for c in adapter_dir.glob("checkpoint-*")
                   if c.is_dir() and (not checkpoint_complete(c) or checkpoint_finished(c))]
    for checkpoint in unresumable:
        shutil.rmtree(checkpoint)
    return unresumable


# The keys of an effective config that say where a run is tracked or written, not what it trains.
NOT_TRAINING_KEYS = ("wandb_mode", "wandb_name", "wandb_project", "wandb_entity", "output_dir", "dataset_prepared_path")


def recipe_of(config: dict[str, Any]) -> str:
    """What trains the adapter besides the config's own hash: the effective config (smoke overrides, steps) without
    how it is tracked or where it is written, the base model by its files when it is a local folder (a smoke
    stand-in built differently trains differently; the same files copied elsewhere do not), and each dataset by
    its file name."""
    import hashlib

    from pipeline.formats.tracking import GUARD_PLUGIN

    trained = {key: value for key, value in config.items() if key not in NOT_TRAINING_KEYS}
    trained["plugins"] = [p for p in config.get("plugins") or [] if p != GUARD_PLUGIN]
    trained["datasets"] = [{**entry, "path": Path(str(entry.get("path"))).name} if isinstance(entry, dict) else entry
                           for entry in config.get("datasets") or []]
    base = config.get("base_model")
    folder = Path(base) if isinstance(base, str) and base else None
    if folder is not None and folder.is_dir():
        trained.pop("base_model")
    digest = hashlib.sha256(json.dumps(trained, sort_keys=True, default=str).encode())
    if folder is not None and folder.is_dir():
        for name in sorted(p.name for p in folder.iterdir() if p.is_file()):
            stat = (folder / name).stat()
            small = (folder / name).read_bytes() if stat.st_size < 1 << 20 else str(stat.st_size).encode()
            digest.update(name.encode() + b"\0" + small)
    return digest.hexdigest()


def retrain_reason(record: TrainRecord | None, config: dict[str, Any]) -> str | None:
    """Why an adapter of this same config is trained again: what changed since (None: nothing was there)."""
    if record is None:
        return None
    base = str(config.get("base_model"))
    if record.trained_on and record.trained_on != base:
        return f"retrained: the last adapter was trained on {record.trained_on}, this run trains on {base}"
    steps = config.get("max_steps")
    if record.max_steps != steps:
        return f"retrained: the last adapter had {record.max_steps or 'no'} max_steps, this run {steps or 'none'}"
    return "retrained: what trains it changed since the last adapter (the effective config or its model's files)"


def write_effective_config(run: RunPaths, config: dict[str, Any], config_sha256: str, smoke: bool,
                           parent: AdapterRef | None, recipe: str) -> None:
    """Another config hash, a smoke run where a real one was (or back), another parent adapter or another recipe
    means the old checkpoints belong to another run: start from a clean run dir."""
    started = run.run_dir / "started.json"
    identity = {"config_sha256": config_sha256, "smoke": smoke, "recipe": recipe,
                **({"parent": parent.model_dump()} if parent is not None else {})}
    if started.is_file() and json.loads(started.read_text()) != identity:
        shutil.rmtree(run.run_dir)
    run.run_dir.mkdir(parents=True, exist_ok=True)
    started.write_text(json.dumps(identity))
    run.config.write_text(yaml.safe_dump(config, sort_keys=False, allow_unicode=True))


def diagnose(log_path: Path, returncode: int, sequence_len: Any) -> str:
    """Turn Axolotl's failure into a sentence a config author can act on."""
    text = log_path.read_text(encoding="utf-8", errors="replace")
    if ALL_ROWS_DROPPED in text:
        return (f"every dataset row is longer than sequence_len ({sequence_len}), so Axolotl dropped them all "
                "and had nothing to train on: raise sequence_len or shorten the rows")
    tail = [line for line in text.splitlines() if line.strip()][-5:]
    detail = "\n    ".join(tail)
    return f"axolotl train exited with code {returncode} and wrote no adapter; last log lines:\n    {detail}"


def logging_every(config: dict[str, Any], total_steps: int) -> int:
    """The Trainer's logging interval as Axolotl sets it: the config's `logging_steps`, else its default for the
    run's length. The progress bar redraws lazily, so the step a loss belongs to is counted, not read off it."""
    value = config.get("logging_steps")
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    return max(min(int(0.005 * total_steps), 10), 1) if total_steps else 500


def resume_step(adapter_dir: Path) -> int:
    """The step Axolotl's auto-resume starts from: the newest complete checkpoint's, or 0."""
    steps = [int(c.name.removeprefix("checkpoint-")) for c in adapter_dir.glob("checkpoint-*")
             if c.is_dir() and c.name.removeprefix("checkpoint-").isdigit() and checkpoint_complete(c)]
    return max(steps, default=0)


def append_losses(path: Path, logged: Sequence[tuple[int, float]], rewards: Sequence[float | None] = ()) -> None:
    """Every logged loss (and GRPO's mean reward beside it, when given) goes to the run's loss history as it
    arrives, so a cut-off attempt keeps its part."""
    shown = [*rewards, *[None] * (len(logged) - len(rewards))]
    with path.open("a", encoding="utf-8") as handle:
        handle.writelines(json.dumps({"step": step, "loss": loss, **({"reward": reward} if reward is not None else {})})
                          + "\n" for (step, loss), reward in zip(logged, shown, strict=True))


def loss_history(path: Path, metric: str = "loss") -> list[tuple[int, float]]:
    """The run's losses (or another logged `metric`) by step across every attempt: a resumed attempt's value
    replaces the cut-off one's."""
    by_step: dict[int, float] = {}
    if path.is_file():
        for line in path.read_text(encoding="utf-8").splitlines():
            with contextlib.suppress(json.JSONDecodeError, KeyError, TypeError):
                entry = json.loads(line)
                by_step[int(entry["step"])] = float(entry[metric])
    return sorted(by_step.items())


def record_completion(run: RunPaths, config_sha256: str, smoke: bool, progress: Progress,
                      seconds: float, parent: AdapterRef | None, launch: Launch,
                      config: dict[str, Any], recipe: str, reward_model: AdapterRef | None = None) -> TrainRecord:
    # Steps past the training's end can only come from an attempt that overran it: each step's loss once, in range.
    history = [(step, loss) for step, loss in loss_history(run.losses) if not progress.total or step <= progress.total]
    rewards = [(step, reward) for step, reward in loss_history(run.losses, "reward")
               if not progress.total or step <= progress.total]
    log_lines = run.log.read_text(encoding="utf-8", errors="replace").splitlines()
    # The log spans every attempt: a resumed attempt's sample for a step replaces the cut-off one's.
    samples = {(sample.step, sample.index): sample for sample in training_samples(log_lines)}
    record = TrainRecord(config_sha256=config_sha256, finished=datetime.now(UTC).isoformat(timespec="seconds"),
                         seconds=round(seconds, 1), steps=progress.step, losses=[loss for _, loss in history],
                         loss_steps=[step for step, _ in history], smoke=smoke, parent=parent,
                         reward_model=reward_model, rewards=[reward for _, reward in rewards],
                         reward_steps=[step for step, _ in rewards],
                         samples=[samples[key] for key in sorted(samples)],
                         packing_efficiency=packing_efficiency(log_lines), recipe=recipe,
                         trained_on=str(config.get("base_model")), max_steps=config.get("max_steps"),
                         **_gpus_used(launch))
    write_atomic(run.record, record.model_dump_json(indent=2))
    return record


def _gpus_used(launch: Launch) -> dict[str, Any]:
    """The GPUs the run held: the launch's processes, one GPU each, on this box's GPU type (none on a CPU box)."""
    gpu_type, available = gpu_inventory()
    return {"gpu_type": gpu_type, "gpus": min(launch.processes, available) if gpu_type else 0}


@dataclass(frozen=True)
class TrainResult:
    """What the train stage hands on: the completion record, whether this run trained, what it overrode, and
    what its reader must know that is not a failure (a tracker that was unreachable or failed)."""

    record: TrainRecord
    skipped: bool  # this exact config already had a complete adapter
    overrides: tuple[str, ...]
    run_dir: Path
    warnings: tuple[str, ...] = ()
    retrained: str | None = None  # why an adapter of this same config was trained again


def train(run: RunPaths, config: dict[str, Any], config_sha256: str, wandb_mode: WandbMode,
          on_progress: Callable[[Progress], None] = lambda _p: None, overrides: Sequence[str] = (),
          time_limit: float | None = None, smoke: bool = False, parent: AdapterRef | None = None,
          launch: Launch = Launch(), reward_model: AdapterRef | None = None) -> TrainResult:
    """Train unless this exact config (from this parent adapter) already has a complete adapter.

    `overrides` (the keys the pipeline changed) head this attempt's part of the log.
    """
    recipe = recipe_of(config)
    if (done := run.trained_from(config_sha256, smoke, parent, recipe)) is not None:
        return TrainResult(done, True, tuple(overrides), run.run_dir)
    previous = run.trained_from(config_sha256, smoke, parent)
    why = retrain_reason(previous, config)
    write_effective_config(run, config, config_sha256, smoke, parent, recipe)
    with run.log.open("a", encoding="utf-8") as log:
        log.writelines(f"haha: override {line}\n" for line in overrides)
        log.write(f"haha: launch axolotl train {' '.join(launch.args())}\n")
        for checkpoint in discard_unresumable_checkpoints(run.adapter_dir):
            log.write(f"haha: discarded {checkpoint.name}, cut off while saving or saved at the last step; resuming "
                      "from the one before\n")
    progress = Progress()
    start = resume_step(run.adapter_dir)

    def on_line(line: str) -> None:
        before = len(progress.losses)
        if progress.update(line):
            every = logging_every(config, progress.total)
            append_losses(run.losses, [(start + every * count, loss) for count, loss in
                                       enumerate(progress.losses[before:], start=before + 1)],
                          progress.rewards[before:])
            on_progress(progress)

    started = time.monotonic()
    env = child_env(run, wandb_mode, local_model=Path(str(config.get("base_model"))).is_dir())
    child = run_child(axolotl_command(run.config, launch), env, run.log, on_line, time_limit)
    if child.timed_out:
        raise TrainingError(f"training of {run.basename} ran past its limit of {time_limit:.0f} s and was stopped "
                            "with its workers; raise [tool.haha] train_timeout_s (or HAHA_TRAIN_TIMEOUT_S) if it needs "
                            "longer")
    if child.stopped_by is not None:
        raise TrainingInterrupted(
            f"training of {run.basename} stopped by {signal.Signals(child.stopped_by).name}; checkpoints are kept "
            f"in {run.adapter_dir}: run the same command again to resume from the last one")
    if child.returncode != 0 or not run.adapter_complete():
        raise TrainingError(diagnose(run.log, child.returncode, config.get("sequence_len")))
    record = record_completion(run, config_sha256, smoke, progress, time.monotonic() - started, parent, launch,
                               config, recipe, reward_model)
    return TrainResult(record, False, tuple(overrides), run.run_dir, retrained=why)
