"""The eval sweep end to end on the tiny model: shape and order, determinism, resume after a kill, context check."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from pipeline.config.loading import load_config
from pipeline.evaluate.model import EvalError
from pipeline.evaluate.resume import append_progress, read_progress, sidecar_path, start_progress
from pipeline.evaluate.run import evaluate
from pipeline.evaluate.spec import Cell, EvalSpec, sweep_cells
from pipeline.evaluate.sweep import Completion, PromptTooLongError, cell_records, cells_from, check_context
from pipeline.evaluate.tasks import EvalJob, Provenance, TaskFile
from pipeline.formats.results import load_results, parse_results
from tests.support.paths import REPO

CONFIG = REPO / "train" / "config" / "haha-llama-3-8b-lora-001.yml"
SPEC = {
    "prompts": ["It was 100 degrees today.", "My landlord finally fixed the sink.", "I adopted a goldfish last week."],
    "settings": [{"temperature": 0.1}, {"temperature": 0.9, "top_p": 0.95, "max_new_tokens": 6}],
    "seedVariants": 2,
}
VOLATILE_META = ("timings", "started", "finished", "adapter_source", "eval_batch_size")


@pytest.fixture(scope="module")
def adapter_dir(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A LoRA adapter with non-zero weights (no training needed), so it really changes the completions."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(0)
    model = get_peft_model(AutoModelForCausalLM.from_pretrained(tiny_model_dir),
                           LoraConfig(r=8, target_modules=["q_proj", "k_proj", "v_proj", "o_proj"],
                                      init_lora_weights=False))
    out = tmp_path_factory.mktemp("adapter")
    model.save_pretrained(out)
    return out


def spec(**changes: Any) -> EvalSpec:
    return EvalSpec.model_validate({**SPEC, **changes})


def run_sweep(tiny_model_dir: Path, adapter_dir: Path, out: Path, eval_spec: EvalSpec, max_new_tokens: int = 8,
              wandb_run: str | None = None, **options: Any) -> None:
    """The sweep of `eval_spec` through the eval driver, as the evaluate stage runs it."""
    spec_file = out.with_name(out.stem + ".eval.json")
    spec_file.parent.mkdir(parents=True, exist_ok=True)
    spec_file.write_text(eval_spec.model_dump_json(exclude_none=True))
    job = EvalJob(load_config(CONFIG), CONFIG.stem, str(tiny_model_dir), adapter_dir, out,
                  max_new_tokens=max_new_tokens, provenance=Provenance(wandb_run=wandb_run), **options)
    evaluate(job, [TaskFile("eval", spec_file, "sweep")])


def sweep(tiny_model_dir: Path, adapter_dir: Path, out: Path, eval_spec: EvalSpec, **kwargs: Any) -> dict[str, Any]:
    run_sweep(tiny_model_dir, adapter_dir, out, eval_spec, **kwargs)
    return json.loads(out.read_text())


@pytest.fixture(scope="module")
def full(tiny_model_dir: Path, adapter_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    out = tmp_path_factory.mktemp("results") / "haha-llama-3-8b-lora-001.json"
    return sweep(tiny_model_dir, adapter_dir, out, spec(), batch_size=5, wandb_run="haha/haha-llama-3-8b-lora-001")


def test_results_hold_every_prompt_setting_and_seed_in_order(full: dict[str, Any]) -> None:
    assert list(full) == ["config", "results", "meta"]
    assert full["config"]["name"] == "haha-llama-3-8b-lora-001"
    assert [r["prompt"] for r in full["results"]] == SPEC["prompts"]
    for result in full["results"]:
        settings = [{k: v for k, v in s.items() if k != "completions"} for s in result["settingsResults"]]
        assert settings == SPEC["settings"]
        assert [len(s["completions"]) for s in result["settingsResults"]] == [2, 2]
    meta = full["meta"]
    assert meta["seeds"] == [1, 2]
    assert meta["wandb_run"] == "haha/haha-llama-3-8b-lora-001"
    assert meta["timings"]["cells_computed"] == 12
    assert [d["setting"] for d in meta["diversity"]] == SPEC["settings"]
    assert {"config_sha256", "base_model", "hub_repo", "hub_revision", "adapter_source", "backend", "device",
            "started", "finished", "pipeline_version"} <= set(meta)


def test_results_file_loads_and_old_format_files_still_do(full: dict[str, Any], tmp_path: Path) -> None:
    path = tmp_path / "new.json"
    path.write_text(json.dumps(full))
    assert load_results(path).meta is not None
    old = parse_results("""{"config": {"name": "haha-llama-3-8b-lora-017", "default_system_message": "Be funny.",
        "sequence_len": 64, "gradient_accumulation_steps": 4, "micro_batch_size": 2, "num_epochs": 4,
        "optimizer": "adamw_bnb_8bit", "lr_scheduler": "cosine", "learning_rate": 0.000095, "load_in_8bit": true,
        "load_in_4bit": false, "adapter": "lora", "lora_r": 32, "lora_alpha": 16, "lora_dropout": 0.05},
      "results": [{"prompt": "It was 100 degrees today.",
                   "settingsResults": [{"temperature": 0.1, "completions": ["a", "b", "c"]}]}]}""", "old.json")
    assert old.meta is None
    assert old.results[0].settingsResults[0].completions == ["a", "b", "c"]


def test_a_cell_alone_equals_the_same_cell_in_the_full_sweep(tiny_model_dir: Path, adapter_dir: Path,
                                                              full: dict[str, Any], tmp_path: Path) -> None:
    one = spec(prompts=[SPEC["prompts"][1]], settings=[SPEC["settings"][1]])
    alone = sweep(tiny_model_dir, adapter_dir, tmp_path / "one.json", one, batch_size=1)
    assert alone["results"][0]["settingsResults"][0] == full["results"][1]["settingsResults"][1]


def test_two_sweeps_give_identical_files_apart_from_times(tiny_model_dir: Path, adapter_dir: Path,
                                                          full: dict[str, Any], tmp_path: Path) -> None:
    again = sweep(tiny_model_dir, adapter_dir, tmp_path / "again.json", spec(), batch_size=3,
                  wandb_run="haha/haha-llama-3-8b-lora-001")
    for doc in (again, full):
        for key in VOLATILE_META:
            doc["meta"].pop(key)
    assert again == full
    assert not sidecar_path(tmp_path / "again.json").exists()


def test_prompt_longer_than_the_context_fails_before_generating(tiny_model_dir: Path, adapter_dir: Path,
                                                                tmp_path: Path) -> None:
    long = spec(prompts=["Fine.", "Once upon a time " + "very " * 600 + "long."])
    out = tmp_path / "long.json"
    with pytest.raises(PromptTooLongError, match=r'prompts\[1\] \("Once upon a time very very…"\)'):
        run_sweep(tiny_model_dir, adapter_dir, out, long, max_new_tokens=None)
    assert not out.exists() and not sidecar_path(out).exists()


def test_context_check_counts_the_longest_completion() -> None:
    check_context(spec(), [[0] * 40] * 3, 48, cap=8)
    with pytest.raises(PromptTooLongError, match="leaves 40 for the prompt when generating up to 8"):
        check_context(spec(), [[0] * 40, [0] * 41, [0]], 48, cap=8)


def test_progress_from_another_config_or_a_torn_line_is_not_trusted(tmp_path: Path) -> None:
    sidecar = tmp_path / "x.json.partial.jsonl"
    start_progress(sidecar, {"config_sha256": "a"}, "2025-01-01T00:00:00+00:00")
    append_progress(sidecar, cell_records({Cell(0, 0, 1): Completion("one", False),
                                           Cell(0, 0, 2): Completion("two", True)}))
    with sidecar.open("a") as handle:
        handle.write('{"prompt": 0, "setting": 1, "se')
    done, started = read_progress(sidecar, {"config_sha256": "a"})
    assert cells_from(done) == {Cell(0, 0, 1): ("one", False), Cell(0, 0, 2): ("two", True)}
    assert started == "2025-01-01T00:00:00+00:00"
    assert sidecar.read_text().endswith('"hit_limit": true}\n')
    assert read_progress(sidecar, {"config_sha256": "b"}) == ([], None)
    assert not sidecar.exists()


def test_sweep_cells_run_prompt_then_setting_then_seed() -> None:
    cells = sweep_cells(spec())
    assert len(cells) == 12
    assert cells[:3] == [Cell(0, 0, 1), Cell(0, 0, 2), Cell(0, 1, 1)]
    assert cells == sorted(cells)


@pytest.mark.slow
def test_killed_sweep_resumes_without_recomputing(tiny_model_dir: Path, adapter_dir: Path, tmp_path: Path) -> None:
    eval_file = tmp_path / "eval.json"
    eval_file.write_text(json.dumps({**SPEC, "prompts": [*SPEC["prompts"], "The dentist offered me a lollipop."],
                                     "seedVariants": 3}))
    out = tmp_path / "results" / "haha-llama-3-8b-lora-001.json"
    command = [sys.executable, "-m", "pipeline.cli.main", "evaluate", str(CONFIG), "--adapter", str(adapter_dir),
               "--base-model", str(tiny_model_dir), "--out", str(out), "--eval", str(eval_file), "--batch-size", "2",
               "--max-new-tokens", "48"]
    env = {**os.environ, "HAHA_ROOT": str(REPO)}
    first = subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    sidecar = sidecar_path(out)
    deadline = time.monotonic() + 120
    while first.poll() is None and time.monotonic() < deadline:
        if sidecar.exists() and sidecar.read_text().count("\n") >= 3:  # header + one batch of two cells
            break
        time.sleep(0.01)
    first.send_signal(signal.SIGKILL)
    first.wait()
    records, _ = read_progress(sidecar, json.loads(sidecar.read_text().splitlines()[0])["key"])
    done_before = {cell: done.text for cell, done in cells_from(records).items()}
    assert 2 <= len(done_before) < 24 and not out.exists(), "the kill should land mid-sweep"

    second = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=300, check=True)
    match = re.search(r"(\d+) cells computed, (\d+) resumed, 24 in all", second.stdout)
    assert match, second.stdout + second.stderr
    assert (int(match[1]), int(match[2])) == (24 - len(done_before), len(done_before))
    assert not sidecar.exists()
    resumed = json.loads(out.read_text())
    for cell, text in done_before.items():
        assert resumed["results"][cell.prompt]["settingsResults"][cell.setting]["completions"][cell.seed - 1] == text
    clean = tmp_path / "clean.json"
    run_sweep(tiny_model_dir, adapter_dir, clean, EvalSpec.model_validate_json(eval_file.read_text()),
              max_new_tokens=48)
    assert resumed["results"] == json.loads(clean.read_text())["results"]


def test_a_sweep_past_its_time_limit_stops_and_the_next_run_resumes(tiny_model_dir: Path, adapter_dir: Path,
                                                                   tmp_path: Path, full: dict[str, Any]) -> None:
    out = tmp_path / "haha-llama-3-8b-lora-001.json"
    with pytest.raises(EvalError, match=r"past its limit of 0 s with 4 of 12 cells done; they are kept"):
        sweep(tiny_model_dir, adapter_dir, out, spec(), batch_size=4, time_limit=0)
    assert not out.exists()
    resumed = sweep(tiny_model_dir, adapter_dir, out, spec(), batch_size=4)
    assert resumed["meta"]["timings"]["cells_resumed"] == 4
    assert resumed["results"] == full["results"]
