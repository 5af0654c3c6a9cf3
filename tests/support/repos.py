"""A throwaway haha repo: one config, its rows, an eval file and a pyproject, the smallest tree every verb runs in."""

from __future__ import annotations

import json
from pathlib import Path

from tests.support.paths import REPO

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
