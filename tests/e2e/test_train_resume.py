"""A cancelled training job keeps its checkpoints and the next run resumes from them."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.support.haha_cli import FAST_SMOKE, HAHA
from tests.support.paths import REPO

CONFIG = "haha-llama-3-8b-lora-001"

pytestmark = pytest.mark.slow


def test_sigterm_stops_training_and_the_rerun_resumes(tmp_path: Path) -> None:
    shutil.copy(REPO / "pyproject.toml", tmp_path)
    shutil.copytree(REPO / "train", tmp_path / "train")
    env = {**os.environ, "HAHA_ROOT": str(tmp_path)}
    command = [HAHA, "train", *FAST_SMOKE, "--wandb", "disabled", f"train/config/{CONFIG}.yml"]
    run_dir = tmp_path / "scratch" / "runs" / CONFIG
    first = subprocess.Popen(command, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             text=True)
    deadline = time.monotonic() + 300
    # Signalled once checkpoint-5 is complete (trainer_state.json is written last), so there is one to resume
    # from; a checkpoint cut off mid-save is discarded instead (tests/unit/train/test_training_units.py).
    while not (run_dir / "adapter" / "checkpoint-5" / "trainer_state.json").is_file():
        assert first.poll() is None, first.stdout.read() if first.stdout else ""
        assert time.monotonic() < deadline, "no checkpoint within 300 s"
        time.sleep(0.05)
    first.send_signal(signal.SIGTERM)
    output, _ = first.communicate(timeout=120)

    assert first.returncode == 130, output
    assert "run the same command again to resume" in output
    assert not (run_dir / "complete.json").exists(), "an interrupted run must not be recorded as trained"

    second = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert second.returncode == 0, second.stdout + second.stderr
    log = (run_dir / "train.log").read_text()
    assert "resume from checkpoint" in log
    record = json.loads((run_dir / "complete.json").read_text())
    assert record["config_sha256"]
    # The loss history is the run's, not the resumed attempt's: steps 1-5 came from the first attempt.
    assert record["loss_steps"] == list(range(1, 11))
    assert len(record["losses"]) == 10
    assert (run_dir / "adapter" / "adapter_model.safetensors").is_file()
