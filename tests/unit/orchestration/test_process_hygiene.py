"""The training child and its workers: signals reach the whole group, haha never waits on a stray pipe,
a hung run ends at its limit, one run per workspace, and the loss history survives a resume."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from pipeline.core.lock import workspace_lock
from pipeline.train.axolotl import append_losses, loss_history
from pipeline.train.child import run_child
from tests.support.haha_cli import FAST_SMOKE, HAHA

# A child like Axolotl's preprocessing: it starts a worker that inherits its stdout, says the worker's pid,
# then either exits at once (leaving the worker holding the pipe) or keeps running.
CHILD = """
import subprocess, sys, time
worker = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
print(worker.pid, flush=True)
if sys.argv[1] == "stay":
    time.sleep(600)
"""


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is dead but unreaped (its parent, the child, is gone too, so init reaps it shortly).
    with open(f"/proc/{pid}/stat") as stat:
        return stat.read().split()[2] != "Z"


def run(tmp_path: Path, mode: str, time_limit: float | None = None) -> tuple[float, object, list[str]]:
    lines: list[str] = []
    started = time.monotonic()
    result = run_child([sys.executable, "-c", CHILD, mode], dict(os.environ), tmp_path / "train.log", lines.append,
                       time_limit)
    return time.monotonic() - started, result, lines


def worker_gone(pid: int, within: float = 5.0) -> bool:
    deadline = time.monotonic() + within
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    return not alive(pid)


def test_haha_stops_waiting_when_the_child_exits_and_its_workers_go_with_it(tmp_path: Path) -> None:
    seconds, result, lines = run(tmp_path, "exit")
    assert seconds < 60, "waited on a worker that kept the output pipe open (it sleeps 600 s)"
    assert result.returncode == 0 and not result.timed_out
    assert worker_gone(int(lines[0]))


def test_a_signal_reaches_the_whole_group(tmp_path: Path) -> None:
    timer = threading.Timer(1.5, os.kill, (os.getpid(), signal.SIGTERM))
    timer.start()
    seconds, result, lines = run(tmp_path, "stay")
    timer.join()
    assert seconds < 60  # the child and its worker would sleep 600 s
    assert result.stopped_by == signal.SIGTERM
    assert worker_gone(int(lines[0]))


def test_a_hung_run_ends_at_its_time_limit_with_its_workers(tmp_path: Path) -> None:
    seconds, result, lines = run(tmp_path, "stay", time_limit=1.0)
    assert result.timed_out and seconds < 60  # not the 600 s the child asks for
    assert worker_gone(int(lines[0]))


def test_a_second_run_on_the_same_workspace_is_refused_naming_the_holder(haha_repo: Path, tmp_path: Path) -> None:
    workspace = tmp_path / "ws"
    env = {**os.environ, "HAHA_ROOT": str(haha_repo)}
    with workspace_lock(workspace / "runs"):
        for verb in ("train", "run"):
            result = subprocess.run([HAHA, verb, *FAST_SMOKE, "--wandb", "disabled", "--workspace", str(workspace),
                                     "train/config/jokes-001.yml"], cwd=haha_repo, env=env, capture_output=True,
                                    text=True, timeout=300)
            assert result.returncode == 1, result.stdout + result.stderr
            assert f"another haha run is using {workspace / 'runs'} (pid {os.getpid()} on " in result.stderr
            assert not (workspace / "runs" / "jokes-001").exists()


def test_the_lock_is_released_when_the_holder_ends(tmp_path: Path) -> None:
    with workspace_lock(tmp_path):
        pass
    with workspace_lock(tmp_path):  # taken again at once
        pass


def test_the_loss_history_keeps_every_step_across_a_resume(tmp_path: Path) -> None:
    path = tmp_path / "losses.jsonl"
    append_losses(path, [(step, 4.0 - step / 10) for step in range(1, 8)])  # cut off after step 7
    append_losses(path, [(step, 3.0 - step / 10) for step in range(6, 11)])  # resumed from checkpoint-5
    history = loss_history(path)
    assert [step for step, _ in history] == list(range(1, 11))
    assert history[0] == (1, pytest.approx(3.9))  # the run's first step, not the resumed attempt's
    assert history[5] == (6, pytest.approx(2.4))  # the resumed attempt's value replaces the cut-off one


def test_each_loss_is_counted_to_its_step_from_the_checkpoint_it_resumed(tmp_path: Path) -> None:
    from pipeline.train.axolotl import logging_every, resume_step

    assert logging_every({"logging_steps": 5}, 1000) == 5
    assert logging_every({}, 1000) == 5 and logging_every({}, 10_000) == 10 and logging_every({}, 24) == 1
    adapter = tmp_path / "adapter"
    for step, complete in ((5, True), (10, False), (3, True)):
        (adapter / f"checkpoint-{step}").mkdir(parents=True)
        if complete:
            (adapter / f"checkpoint-{step}" / "trainer_state.json").write_text("{}")
    assert resume_step(adapter) == 5  # checkpoint-10 was cut off mid-save
    assert resume_step(tmp_path / "nothing") == 0
