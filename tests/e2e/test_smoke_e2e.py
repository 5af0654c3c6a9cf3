"""`haha run --smoke` end to end: real Axolotl on the tiny model, on CPU, in a copy of the repo."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from tests.support.haha_cli import FAST_SMOKE, HAHA, copy_repo, refused_url

CONFIG = "haha-llama-3-8b-lora-001"
HF_CANARY = "hf_CANARYhfTOKEN0123456789abcdef"
WANDB_CANARY = "wandbCANARY0123456789abcdef0123456789abcd"
# A box with W&B's key but no route to W&B: a smoke run must never need it.
NO_ROUTE = refused_url()

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return copy_repo(tmp_path_factory.mktemp("repo"))


def haha(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HAHA_ROOT": str(repo), "HF_TOKEN": HF_CANARY, "WANDB_API_KEY": WANDB_CANARY,
           "WANDB_BASE_URL": NO_ROUTE}
    return subprocess.run([HAHA, *args], cwd=repo, env=env, capture_output=True, text=True, timeout=900)


def report(repo: Path) -> dict[str, dict]:
    data = json.loads((repo / "scratch" / "report.json").read_text())
    return {c["config"]: c for c in data["configs"]}


@pytest.fixture(scope="module")
def first_run(repo: Path) -> subprocess.CompletedProcess[str]:
    return haha(repo, "run", *FAST_SMOKE, f"train/config/{CONFIG}.yml")


def test_smoke_run_trains_publishes_and_evaluates(repo: Path, first_run: subprocess.CompletedProcess[str]) -> None:
    assert first_run.returncode == 0, first_run.stdout + first_run.stderr
    stages = report(repo)[CONFIG]["stages"]
    assert stages == {"validate": "ok", "train": "trained", "publish": "published", "evaluate": "evaluated"}
    results = json.loads((repo / "scratch" / "results" / f"{CONFIG}.json").read_text())
    spec = json.loads((repo / "train" / "eval" / "eval.json").read_text())
    assert [r["prompt"] for r in results["results"]] == spec["prompts"]
    assert not list((repo / "train" / "results").iterdir()), "smoke runs never write train/results"


def test_overrides_are_counted_on_screen_and_written_in_full(repo: Path,
                                                             first_run: subprocess.CompletedProcess[str]) -> None:
    run_dir = repo / "scratch" / "runs" / CONFIG
    log = (run_dir / "train.log").read_text()
    written = (run_dir / "overrides.txt").read_text().splitlines()
    for change in ("optimizer: 'adamw_bnb_8bit' -> 'adamw_torch' (smoke: CPU-safe)",
                   "wandb_mode: None -> 'offline' (smoke: never online)"):
        assert change in written
        assert f"haha: override {change}" in log
        assert f"override {change}" not in first_run.stdout  # -v prints them: test_rerun_skips_every_stage
    assert (f"{CONFIG}.yml: {len(written)} settings changed for this run: see scratch/runs/{CONFIG}/overrides.txt"
            in first_run.stdout)
    model = next(line for line in written if line.startswith("base_model:"))
    assert f"{CONFIG}.yml: {model}" in first_run.stdout  # the model it trained on is printed, whatever -v says


def test_long_steps_show_a_bar_with_their_count(repo: Path, first_run: subprocess.CompletedProcess[str]) -> None:
    """Captured output is a log: each finished bar is printed once, with its count and elapsed time."""
    bars = [line for line in first_run.stdout.splitlines() if line.strip().startswith(f"{CONFIG}: ")]
    assert any(": training " in line and "10/10" in line and "loss " in line for line in bars), bars
    assert any(": eval sweep " in line for line in bars), bars


def test_adapter_loads_with_peft_onto_the_tiny_base(repo: Path, first_run: subprocess.CompletedProcess[str]) -> None:
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    base = AutoModelForCausalLM.from_pretrained(repo / "scratch" / "tiny-model")
    model = PeftModel.from_pretrained(base, repo / "scratch" / "runs" / CONFIG / "adapter")
    lora_b = [p for name, p in model.named_parameters() if "lora_B" in name]
    assert lora_b, "no LoRA weights in the adapter"
    assert any(float(p.abs().sum()) > 0 for p in lora_b), "LoRA B weights never moved from zero: nothing trained"


def test_wandb_offline_run_is_named_after_the_config(repo: Path, first_run: subprocess.CompletedProcess[str]) -> None:
    from pipeline.train.tracking import recorded_runs

    runs = recorded_runs(repo / "scratch" / "runs" / CONFIG)
    assert [(r.project, r.name) for r in runs] == [("haha", CONFIG)]


def test_the_wandb_run_is_recorded_as_the_index_links_it(repo: Path,
                                                         first_run: subprocess.CompletedProcess[str]) -> None:
    from pipeline.formats.tracking import WandbMode
    from pipeline.results.values import wandb_link
    from pipeline.train.tracking import recorded_runs, run_reference

    run_dir = repo / "scratch" / "runs" / CONFIG
    (run_id,) = [r.run_id for r in recorded_runs(run_dir)]
    # The repo sets no W&B entity and the run was offline: no page exists to link, so none is recorded.
    meta = json.loads((repo / "scratch" / "results" / f"{CONFIG}.json").read_text())["meta"]
    assert meta["wandb_run"] is None
    # With an entity, `wandb sync` uploads the run there under its own id: that is what results record.
    ref = run_reference(run_dir, WandbMode.OFFLINE, "haha", CONFIG, "jokes-team")
    assert ref is not None and ref.path == f"jokes-team/haha/{run_id}"
    link = wandb_link(ref.path)
    assert link is not None and link.url == f"https://wandb.ai/jokes-team/haha/runs/{run_id}"
    assert run_reference(run_dir, WandbMode.DISABLED, "haha", CONFIG, "jokes-team") is None


def test_local_hub_holds_adapter_and_model_card(repo: Path, first_run: subprocess.CompletedProcess[str]) -> None:
    hub_repo = repo / "scratch" / "hub" / "haha-lab" / CONFIG
    assert (hub_repo / "adapter_model.safetensors").is_file()
    assert (hub_repo / "adapter_config.json").is_file()
    card = (hub_repo / "README.md").read_text()
    assert "base_model:" in card
    assert CONFIG in card


def test_rerun_skips_every_stage(repo: Path, first_run: subprocess.CompletedProcess[str]) -> None:
    again = haha(repo, "run", *FAST_SMOKE, "--wandb", "offline", "-v", f"train/config/{CONFIG}.yml")
    assert again.returncode == 0, again.stdout + again.stderr
    assert "override optimizer: 'adamw_bnb_8bit' -> 'adamw_torch' (smoke: CPU-safe)" in again.stdout
    assert report(repo)[CONFIG]["stages"] == {"validate": "ok", "train": "skipped", "publish": "skipped",
                                              "evaluate": "skipped"}


def test_force_retrains_from_scratch(repo: Path, first_run: subprocess.CompletedProcess[str]) -> None:
    forced = haha(repo, "run", *FAST_SMOKE, "--wandb", "offline", "--force", f"train/config/{CONFIG}.yml")
    assert forced.returncode == 0, forced.stdout + forced.stderr
    assert report(repo)[CONFIG]["stages"] == {"validate": "ok", "train": "trained", "publish": "published",
                                              "evaluate": "evaluated"}
    run_dir = repo / "scratch" / "runs" / CONFIG
    assert "resume from checkpoint" not in (run_dir / "train.log").read_text()
    assert json.loads((run_dir / "complete.json").read_text())["steps"] == 10


def test_secrets_appear_nowhere(repo: Path, first_run: subprocess.CompletedProcess[str]) -> None:
    output = first_run.stdout + first_run.stderr
    assert HF_CANARY not in output and WANDB_CANARY not in output
    leaks = []
    for path in (repo / "scratch").rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            if HF_CANARY.encode() in data or WANDB_CANARY.encode() in data:
                leaks.append(str(path.relative_to(repo)))
    assert not leaks


def test_one_failing_config_never_stops_the_others(repo: Path, first_run: subprocess.CompletedProcess[str]) -> None:
    """002 has a broken dataset row, 004 drops every row; 001 (done) and 003 still go ahead."""
    config_dir, data_dir = repo / "train" / "config", repo / "train" / "data"
    good = (config_dir / f"{CONFIG}.yml").read_text()
    rows = (data_dir / "haha-v1.jsonl").read_text().splitlines()
    (data_dir / "broken.jsonl").write_text("\n".join([rows[0], rows[1], '{"instruction": "oops', *rows[2:]]) + "\n")
    (config_dir / "haha-llama-3-8b-lora-002.yml").write_text(good.replace("haha-v1.jsonl", "broken.jsonl"))
    (config_dir / "haha-llama-3-8b-lora-003.yml").write_text(good.replace("lora_r: 32", "lora_r: 8"))
    (config_dir / "haha-llama-3-8b-lora-004.yml").write_text(good.replace("sequence_len: 128", "sequence_len: 16"))
    result = haha(repo, "run", *FAST_SMOKE, "--wandb", "offline",
                  *(f"train/config/haha-llama-3-8b-lora-00{n}.yml" for n in (1, 2, 3, 4)))
    assert result.returncode == 1, result.stdout + result.stderr
    outcomes = report(repo)
    assert outcomes[CONFIG]["stages"]["evaluate"] == "skipped"
    assert outcomes["haha-llama-3-8b-lora-002"]["stages"]["validate"] == "failed"
    assert "train/data/broken.jsonl:3:" in outcomes["haha-llama-3-8b-lora-002"]["error"]
    assert outcomes["haha-llama-3-8b-lora-003"]["stages"] == {"validate": "ok", "train": "trained",
                                                              "publish": "published", "evaluate": "evaluated"}
    assert outcomes["haha-llama-3-8b-lora-004"]["stages"]["train"] == "failed"
    assert "longer than sequence_len (16)" in outcomes["haha-llama-3-8b-lora-004"]["error"]
    assert "num_samples=0" not in outcomes["haha-llama-3-8b-lora-004"]["error"]
    assert "haha-llama-3-8b-lora-003" in result.stdout  # the closing table names every config
