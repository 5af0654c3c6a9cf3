"""Fixtures shared across test modules."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
# Hermetic: nothing reaches the real Hub. Tests that need a Hub start the fake one on 127.0.0.1 and say so.
os.environ["HF_HUB_OFFLINE"] = "1"
# As CI runs (.ci/run): transformers then prints a line on stdout at import, which `--json` output must survive.
os.environ.setdefault("WANDB_MODE", "offline")


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The embedded tiny Llama (random weights, ChatML-aware tokenizer), built once per test session (~5 s)."""
    from pipeline.models.tiny import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("tiny-model"), REPO / "train" / "data")


HAHA_PYPROJECT = """\
[project]
name = "throwaway"

[tool.haha]
wandb_project = "haha"
data_mount = "/workspace/data"
allowed_plugins = ["allowed_pkg.AllowedPlugin"]
trust_remote_code_models = { "trusted-org/remote-model" = "0123456789abcdef0123456789abcdef01234567" }
"""

HAHA_CONFIG = """\
base_model: haha-test/not-a-real-model
chat_template: chatml
datasets:
  - path: /workspace/data/jokes.jsonl
    type:
      field_instruction: instruction
      field_input: input
      field_output: output
      format: "<|im_start|>user\\n{instruction}\\n{input}<|im_end|>\\n<|im_start|>assistant\\n"
      no_input_format: "<|im_start|>user\\n{instruction}<|im_end|>\\n<|im_start|>assistant\\n"
output_dir: ./outputs/lora-out
sequence_len: 64
adapter: lora
lora_r: 8
lora_alpha: 16
lora_target_linear: true
wandb_project: haha
wandb_name:
micro_batch_size: 2
gradient_accumulation_steps: 1
num_epochs: 1
optimizer: adamw_torch
learning_rate: 0.0001
"""

HAHA_ROWS = [
    {"instruction": "My cat learned to type.", "input": "", "output": "Now she sends me paw-sitive feedback."},
    {"instruction": "I joined a gym.", "input": "", "output": "So far my wallet has lost the most weight."},
    {"instruction": "The printer jammed again.", "input": "", "output": "It sensed the deadline."},
]

HAHA_EVAL = {"prompts": ["It was 100 degrees today."], "settings": [{"temperature": 0.1}], "seedVariants": 2}


def write_haha_repo(root: Path) -> Path:
    """A throwaway haha repo root that validates clean: [tool.haha] settings (one allowed plugin, one
    trust_remote_code model), this repo's GPU environment, `train/config/jokes-001.yml`, `train/data/jokes.jsonl`
    and eval.json."""
    for folder in ("config", "data", "eval"):
        (root / "train" / folder).mkdir(parents=True)
    (root / "pyproject.toml").write_text(HAHA_PYPROJECT)
    (root / "gpu-requirements.txt").write_text((REPO / "gpu-requirements.txt").read_text())  # the GPU environment
    (root / "train" / "config" / "jokes-001.yml").write_text(HAHA_CONFIG)
    (root / "train" / "data" / "jokes.jsonl").write_text("".join(json.dumps(row) + "\n" for row in HAHA_ROWS))
    (root / "train" / "eval" / "eval.json").write_text(json.dumps(HAHA_EVAL, indent=1))
    return root


@pytest.fixture
def haha_repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """`write_haha_repo` in tmp_path/repo. HAHA_ROOT points at it and the settings' environment overrides are
    cleared, so the CLI sees only it.
    """
    from pipeline.core.settings import ENV_OVERRIDES

    root = write_haha_repo(tmp_path / "repo")
    monkeypatch.setenv("HAHA_ROOT", str(root))
    for variable in ENV_OVERRIDES.values():
        monkeypatch.delenv(variable, raising=False)
    return root
