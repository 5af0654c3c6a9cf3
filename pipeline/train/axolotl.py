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
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import yaml

from pipeline.core.errors import HahaError
from pipeline.core.files import write_atomic
from pipeline.core.runs import RunPaths
from pipeline.core.secrets import scrub
from pipeline.train.tracking import wandb_env

STEP_PATTERN = re.compile(r"(\d+)/(\d+) \[[\d:]+<([\d:?]+)")
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
                return True
        return False

    def describe(self) -> str:
        loss = f"loss {self.losses[-1]:.4f}" if self.losses else "loss -"
        steps = f"step {self.step}/{self.total}" if self.total else "preparing"
        return f"{steps}  {loss}  eta {self.eta or '-'}"


def axolotl_command(config_path: Path) -> list[str]:
    """`axolotl train` from the venv running us; `--launcher python` needs no accelerate config."""
    return [str(Path(sys.executable).parent / "axolotl"), "train", str(config_path), "--launcher", "python"]


def child_env(run: RunPaths, wandb_mode: str, local_model: bool) -> dict[str, str]:
    """The training child's environment; a base model in a local folder needs nothing from the Hub."""
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["AXOLOTL_DO_NOT_TRACK"] = "1"
    if local_model:
        env["HF_HUB_OFFLINE"] = "1"
    env["PYTHONUNBUFFERED"] = "1"
    env.update(wandb_env(wandb_mode, run.run_dir))
    return env


def checkpoint_complete(checkpoint: Path) -> bool:
    """The Trainer writes trainer_state.json last, after weights, optimizer and RNG state."""
    try:
        json.loads((checkpoint / "trainer_state.json").read_text())
    except (OSError, json.JSONDecodeError):
        return False
    return True


def discard_incomplete_checkpoints(adapter_dir: Path) -> list[Path]:
    """Remove checkpoints a kill cut off mid-save: Axolotl's auto-resume would pick the newest and crash on it."""
    broken = [c for c in adapter_dir.glob("checkpoint-*") if c.is_dir() and not checkpoint_complete(c)]
    for checkpoint in broken:
        shutil.rmtree(checkpoint)
    return broken


def write_effective_config(run: RunPaths, config: dict[str, Any], config_sha256: str) -> None:
    """A new config hash means old checkpoints belong to another config: start from a clean run dir."""
    started = run.run_dir / "started.json"
    if started.is_file() and json.loads(started.read_text()).get("config_sha256") != config_sha256:
        shutil.rmtree(run.run_dir)
    run.run_dir.mkdir(parents=True, exist_ok=True)
    started.write_text(json.dumps({"config_sha256": config_sha256}))
    run.config.write_text(yaml.safe_dump(config, sort_keys=False, allow_unicode=True))


def stream_lines(stream: IO[bytes]) -> Any:
    """Lines from the child, splitting on carriage returns too so progress bars arrive as they draw."""
    buffer = b""
    while chunk := stream.read1(4096) if hasattr(stream, "read1") else stream.read(4096):
        buffer += chunk
        *lines, buffer = re.split(rb"[\r\n]", buffer)
        for line in lines:
            yield line.decode("utf-8", errors="replace")
    if buffer:
        yield buffer.decode("utf-8", errors="replace")


@dataclass(frozen=True)
class ChildResult:
    returncode: int
    stopped_by: int | None  # the signal we forwarded (a cancelled job, Ctrl-C), if any
    timed_out: bool  # the wall-clock limit ended it


# After the child exits, how long its output may take to drain, and how long a signalled group gets to exit.
DRAIN_SECONDS = 2.0
GRACE_SECONDS = 10.0


def signal_group(child: subprocess.Popen[bytes], signum: int) -> None:
    """Signal the child's whole process group: Axolotl's dataset workers die with it instead of lingering."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(child.pid, signum)


def pump(stream: IO[bytes], log: IO[str], on_line: Callable[[str], None]) -> None:
    """Copy the child's output, scrubbed, to the log and to `on_line`, until the pipe closes or the log does."""
    try:
        for line in stream_lines(stream):
            clean = scrub(line)
            log.write(clean + "\n")
            on_line(clean)
    except (ValueError, OSError):
        pass  # the log was closed under us: the child is gone and its stragglers were killed


def wait_for(child: subprocess.Popen[bytes], time_limit: float | None) -> bool:
    """Wait for the child to exit; at the limit, ask its group to stop, then make it. True when the limit hit."""
    deadline = time.monotonic() + time_limit if time_limit else None
    while True:
        try:
            child.wait(timeout=0.5)
            return False
        except subprocess.TimeoutExpired:
            if deadline is not None and time.monotonic() > deadline:
                signal_group(child, signal.SIGTERM)
                try:
                    child.wait(timeout=GRACE_SECONDS)
                except subprocess.TimeoutExpired:
                    signal_group(child, signal.SIGKILL)
                    child.wait()
                return True


def run_child(command: list[str], env: dict[str, str], log_path: Path, on_line: Callable[[str], None],
              time_limit: float | None = None) -> ChildResult:
    """Run the child in its own process group, forwarding SIGINT/SIGTERM to the whole group.

    haha stops waiting when the child exits, not when its pipe closes: dataset workers it leaves
    behind holding the pipe are killed with the rest of the group. `time_limit` (seconds) ends a
    run that hangs (a looping chat template, a stuck collective) with its group.
    """
    received: list[int] = []
    with log_path.open("a", encoding="utf-8") as log:
        log.write(f"$ {' '.join(command)}\n")
        log.flush()
        child = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env,
                                 start_new_session=True)

        def forward(signum: int, _frame: object) -> None:
            received.append(signum)
            signal_group(child, signum)

        previous = {sig: signal.signal(sig, forward) for sig in (signal.SIGINT, signal.SIGTERM)}
        assert child.stdout is not None
        reader = threading.Thread(target=pump, args=(child.stdout, log, on_line), daemon=True)
        reader.start()
        try:
            timed_out = wait_for(child, time_limit)
            reader.join(timeout=DRAIN_SECONDS)
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            signal_group(child, signal.SIGKILL)  # whatever of the group outlived the child
            if child.poll() is None:
                child.kill()
                child.wait()
            reader.join(timeout=DRAIN_SECONDS)
        return ChildResult(child.returncode, received[0] if received else None, timed_out)


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


def append_losses(path: Path, logged: list[tuple[int, float]]) -> None:
    """Every logged loss goes to the run's loss history as it arrives, so a cut-off attempt keeps its part."""
    with path.open("a", encoding="utf-8") as handle:
        handle.writelines(json.dumps({"step": step, "loss": loss}) + "\n" for step, loss in logged)


def loss_history(path: Path) -> list[tuple[int, float]]:
    """The run's losses by step across every attempt: a resumed attempt's value replaces the cut-off one's."""
    by_step: dict[int, float] = {}
    if path.is_file():
        for line in path.read_text(encoding="utf-8").splitlines():
            with contextlib.suppress(json.JSONDecodeError, KeyError, TypeError):
                entry = json.loads(line)
                by_step[int(entry["step"])] = float(entry["loss"])
    return sorted(by_step.items())


def record_completion(run: RunPaths, config_sha256: str, progress: Progress, seconds: float) -> None:
    history = loss_history(run.losses)
    record = {
        "config_sha256": config_sha256,
        "finished": datetime.now(UTC).isoformat(timespec="seconds"),
        "seconds": round(seconds, 1),
        "steps": progress.step,
        "losses": [loss for _, loss in history],
        "loss_steps": [step for step, _ in history],
    }
    write_atomic(run.record, json.dumps(record, indent=2))


def train(run: RunPaths, config: dict[str, Any], config_sha256: str, wandb_mode: str,
          on_progress: Callable[[Progress], None] = lambda _p: None, notes: Sequence[str] = (),
          time_limit: float | None = None) -> dict[str, Any]:
    """Train unless this exact config already has a complete adapter; returns the completion record.

    `notes` (such as the overrides the pipeline applied) head this attempt's part of the log.
    """
    if run.is_trained(config_sha256):
        record = run.completion()
        assert record is not None
        return {**record, "skipped": True}
    write_effective_config(run, config, config_sha256)
    with run.log.open("a", encoding="utf-8") as log:
        log.writelines(f"haha: {note}\n" for note in notes)
        for checkpoint in discard_incomplete_checkpoints(run.adapter_dir):
            log.write(f"haha: discarded {checkpoint.name}, cut off while saving; resuming from the one before\n")
    progress = Progress()

    start = resume_step(run.adapter_dir)

    def on_line(line: str) -> None:
        before = len(progress.losses)
        if progress.update(line):
            every = logging_every(config, progress.total)
            append_losses(run.losses, [(start + every * count, loss) for count, loss in
                                       enumerate(progress.losses[before:], start=before + 1)])
            on_progress(progress)

    started = time.monotonic()
    env = child_env(run, wandb_mode, local_model=Path(str(config.get("base_model"))).is_dir())
    child = run_child(axolotl_command(run.config), env, run.log, on_line, time_limit)
    returncode, stopped_by = child.returncode, child.stopped_by
    if child.timed_out:
        raise TrainingError(f"training of {run.basename} ran past its limit of {time_limit:.0f} s and was stopped "
                            "with its workers; raise [tool.haha] train_timeout_s if it needs longer")
    if stopped_by is not None:
        raise TrainingInterrupted(
            f"training of {run.basename} stopped by {signal.Signals(stopped_by).name}; checkpoints are kept in "
            f"{run.adapter_dir}: run the same command again to resume from the last one")
    if returncode != 0 or not run.adapter_complete():
        raise TrainingError(diagnose(run.log, returncode, config.get("sequence_len")))
    record_completion(run, config_sha256, progress, time.monotonic() - started)
    record = run.completion()
    assert record is not None
    return {**record, "skipped": False}
