"""Pure parts of the training stage: reading progress out of Axolotl's output, tracking modes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipeline.core.errors import UsageError
from pipeline.train.axolotl import Progress, diagnose
from pipeline.train.tracking import wandb_mode


def test_progress_reads_steps_eta_and_losses() -> None:
    progress = Progress()
    assert progress.update("  30%|███       | 3/10 [00:01<00:04,  1.62it/s]")
    assert (progress.step, progress.total, progress.eta) == (3, 10, "00:04")
    assert progress.update("{'loss': '6.631', 'grad_norm': '0.41', 'learning_rate': '9.5e-05', 'epoch': '0.31'}")
    assert progress.update("{'loss': 6.5, 'grad_norm': 0.4, 'epoch': 0.6}")
    assert progress.losses == [6.631, 6.5]
    assert not progress.update("[INFO] loading tokenizer")
    # a dataset's bar is not the trainer's (DPO runs print several after training has its total)
    assert not progress.update("Mapping RL Dataset (num_proc=2): 100%|██████████| 48/48 [00:00<00:00, 180.88 ex/s]")
    assert progress.describe() == "step 3/10  loss 6.5000  eta 00:04"


def test_all_rows_dropped_is_explained(tmp_path: Path) -> None:
    log = tmp_path / "train.log"
    log.write_text("ValueError: num_samples should be a positive integer value, but got num_samples=0\n")
    message = diagnose(log, 1, 64)
    assert "longer than sequence_len (64)" in message
    assert "num_samples" not in message


def test_other_failures_show_the_log_tail(tmp_path: Path) -> None:
    log = tmp_path / "train.log"
    log.write_text("line one\nRuntimeError: CUDA out of memory\n")
    assert "RuntimeError: CUDA out of memory" in diagnose(log, 1, 64)


def test_wandb_mode_follows_the_api_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    assert wandb_mode(None, smoke=False) == "offline"
    monkeypatch.setenv("WANDB_API_KEY", "k" * 40)
    assert wandb_mode(None, smoke=False) == "online"
    assert wandb_mode("disabled", smoke=False) == "disabled"
    with pytest.raises(UsageError, match="--wandb"):
        wandb_mode("sometimes", smoke=False)


def test_a_smoke_run_never_goes_online_whatever_the_environment_holds(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WANDB_API_KEY", "k" * 40)
    monkeypatch.setenv("WANDB_MODE", "online")
    assert wandb_mode(None, smoke=True) == "offline"
    assert wandb_mode("disabled", smoke=True) == "disabled"
    with pytest.raises(UsageError, match="a smoke run never goes online"):
        wandb_mode("online", smoke=True)


def test_incomplete_checkpoints_are_discarded_before_resuming(tmp_path: Path) -> None:
    from pipeline.train.axolotl import discard_unresumable_checkpoints

    complete, cut_off, torn = (tmp_path / f"checkpoint-{n}" for n in (5, 10, 15))
    for checkpoint in (complete, cut_off, torn):
        checkpoint.mkdir()
        (checkpoint / "adapter_model.safetensors").write_bytes(b"weights")
    (complete / "trainer_state.json").write_text('{"global_step": 5}')
    (torn / "trainer_state.json").write_text('{"global_st')
    assert sorted(p.name for p in discard_unresumable_checkpoints(tmp_path)) == ["checkpoint-10", "checkpoint-15"]
    assert [p.name for p in tmp_path.iterdir()] == ["checkpoint-5"]


def test_a_checkpoint_of_a_finished_training_is_never_resumed_from(tmp_path: Path) -> None:
    """A 4-step run whose final save failed (a full disk) re-ran from checkpoint-4 and trained a fifth step:
    Transformers checks for the end only after a step. It resumes from the one before and records 4 losses."""
    from pipeline.core.runs import RunPaths
    from pipeline.train.axolotl import Launch, discard_unresumable_checkpoints, record_completion, resume_step

    run = RunPaths(tmp_path / "runs", "jokes-001")
    for step in (3, 4):
        checkpoint = run.adapter_dir / f"checkpoint-{step}"
        checkpoint.mkdir(parents=True)
        (checkpoint / "trainer_state.json").write_text(json.dumps({"global_step": step, "max_steps": 4}))
    assert [p.name for p in discard_unresumable_checkpoints(run.adapter_dir)] == ["checkpoint-4"]
    assert resume_step(run.adapter_dir) == 3
    run.log.write_text("")
    run.losses.write_text("".join(json.dumps({"step": step, "loss": 1.0 / step}) + "\n" for step in (1, 2, 3, 4, 5, 4)))
    progress = Progress(step=4, total=4)
    record = record_completion(run, "a" * 64, True, progress, 1.0, None, Launch(), {"max_steps": 4}, "r" * 64)
    assert record.loss_steps == [1, 2, 3, 4] and record.losses == [1.0, 0.5, 1.0 / 3, 0.25]
