"""A real (non-smoke) run whose W&B cannot be reached trains offline, end to end: `haha run` on CPU with real
Axolotl, a config whose base model is the tiny Llama in the repo, W&B's key set and its endpoint refusing."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from pipeline.core.markdown import cell
from pipeline.formats.tracking import GUARDED
from tests.support.haha_cli import HAHA, refused_url
from tests.support.repos import write_haha_repo

CONFIG = "jokes-001"
HF_CANARY = "hf_CANARYhfTOKEN0123456789abcdef"
WANDB_CANARY = "wandbCANARY0123456789abcdef0123456789abcd"
# What a config needs to train on a CPU (docs: Axolotl's LoRA kernels and mixed precision want a GPU).
CPU_KEYS = """\
lora_mlp_kernel: false
lora_qkv_kernel: false
lora_o_kernel: false
lora_embedding_kernel: false
bf16: false
fp16: false
flash_attention: false
"""

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory, tiny_model_dir: Path) -> Path:
    root = write_haha_repo(tmp_path_factory.mktemp("fallback") / "repo")
    model = shutil.copytree(tiny_model_dir, root / "models" / "tiny")
    config = root / "train" / "config" / f"{CONFIG}.yml"
    config.write_text(config.read_text().replace("haha-test/not-a-real-model", str(model)) + CPU_KEYS)
    return root


@pytest.fixture(scope="module")
def fallback_run(repo: Path) -> subprocess.CompletedProcess[str]:
    from pipeline.core.settings import ENV_OVERRIDES

    env = {name: value for name, value in os.environ.items() if name not in ENV_OVERRIDES.values()}
    env.update(HAHA_ROOT=str(repo), HF_TOKEN=HF_CANARY, WANDB_API_KEY=WANDB_CANARY, WANDB_BASE_URL=refused_url(),
               WANDB_INIT_TIMEOUT="5", GITHUB_STEP_SUMMARY=str(repo / "summary.md"))
    return subprocess.run([HAHA, "run", "--workspace", str(repo / "ws"), f"train/config/{CONFIG}.yml"], cwd=repo,
                          env=env, capture_output=True, text=True, timeout=900)


def test_the_run_trains_publishes_and_evaluates_offline(repo: Path,
                                                        fallback_run: subprocess.CompletedProcess[str]) -> None:
    assert fallback_run.returncode == 0, fallback_run.stdout + fallback_run.stderr
    [outcome] = json.loads((repo / "ws" / "report.json").read_text())["configs"]
    assert outcome["stages"] == {"validate": "ok", "train": "trained", "publish": "published",
                                 "evaluate": "evaluated"}
    assert not outcome["train"]["smoke"]
    effective = (repo / "ws" / "runs" / CONFIG / "config.yml").read_text()
    assert "wandb_mode: offline" in effective and f"wandb_name: {CONFIG}" in effective
    log = (repo / "ws" / "runs" / CONFIG / "train.log").read_text()
    assert "haha: override wandb_mode: None -> 'offline' (W&B unreachable at start (http://127.0.0.1:" in log
    assert GUARDED in log, "the guard plugin took the W&B callback's place"


def test_the_warning_and_the_sync_command_reach_the_terminal_report_and_job_summary(
        repo: Path, fallback_run: subprocess.CompletedProcess[str]) -> None:
    from pipeline.train.tracking import recorded_runs

    run_dir = repo / "ws" / "runs" / CONFIG
    [record] = run_dir.glob("wandb/offline-run-*")
    assert [(r.project, r.name) for r in recorded_runs(run_dir)] == [("haha", CONFIG)]
    [warning] = json.loads((repo / "ws" / "report.json").read_text())["configs"][0]["train"]["warnings"]
    assert warning.startswith("W&B was unreachable at start (http://127.0.0.1:")
    assert warning.endswith(f"so this run trained offline; upload it with: wandb sync {record}")
    assert f"{CONFIG}.yml: warning: {warning}" in " ".join(fallback_run.stdout.split())
    assert f"- {cell(warning)}" in (repo / "summary.md").read_text()  # escaped for markdown, as every sink is


def test_the_results_say_the_run_is_offline_and_not_synced(repo: Path,
                                                          fallback_run: subprocess.CompletedProcess[str]) -> None:
    results = json.loads((repo / "train" / "results" / f"{CONFIG}.json").read_text())
    assert results["meta"]["wandb_run"] == "offline, not synced"


def test_secrets_appear_nowhere(repo: Path, fallback_run: subprocess.CompletedProcess[str]) -> None:
    output = fallback_run.stdout + fallback_run.stderr
    assert HF_CANARY not in output and WANDB_CANARY not in output
    leaks = [str(path.relative_to(repo)) for path in repo.rglob("*") if path.is_file()
             and (HF_CANARY.encode() in (data := path.read_bytes()) or WANDB_CANARY.encode() in data)]
    assert not leaks
