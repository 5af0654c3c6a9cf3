"""Where each config's run lives on disk; one place so train, publish and evaluate agree.

    <workspace>/<basename>/config.yml     effective config Axolotl runs
    <workspace>/<basename>/adapter/       Axolotl output_dir (checkpoints, final adapter)
    <workspace>/<basename>/prepared/      tokenized dataset cache
    <workspace>/<basename>/train.log      full training log (secrets scrubbed)
    <workspace>/<basename>/losses.jsonl   every logged loss by step, across resumed attempts
    <workspace>/<basename>/complete.json  completion record: config sha256, losses, times
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ADAPTER_FILES = ("adapter_model.safetensors", "adapter_config.json")
# What identifies an adapter's weights: the files training writes, and the older .bin weights PEFT also loads.
ADAPTER_IDENTITY_FILES = ("adapter_config.json", "adapter_model.safetensors", "adapter_model.bin")


def adapter_sha256(adapter_dir: Path) -> str:
    """The adapter's identity, its config and weight bytes: a retrained adapter has another, whatever its config."""
    digest = hashlib.sha256()
    for name in ADAPTER_IDENTITY_FILES:
        if (adapter_dir / name).is_file():
            digest.update(name.encode())
            digest.update((adapter_dir / name).read_bytes())
    return digest.hexdigest()


@dataclass(frozen=True)
class RunPaths:
    workspace: Path
    basename: str

    @property
    def run_dir(self) -> Path:
        return self.workspace / self.basename

    @property
    def config(self) -> Path:
        return self.run_dir / "config.yml"

    @property
    def adapter_dir(self) -> Path:
        return self.run_dir / "adapter"

    @property
    def prepared_dir(self) -> Path:
        return self.run_dir / "prepared"

    @property
    def log(self) -> Path:
        return self.run_dir / "train.log"

    @property
    def losses(self) -> Path:
        return self.run_dir / "losses.jsonl"

    @property
    def record(self) -> Path:
        return self.run_dir / "complete.json"

    def adapter_complete(self) -> bool:
        return all((self.adapter_dir / name).is_file() for name in ADAPTER_FILES)

    def completion(self) -> dict[str, Any] | None:
        try:
            return json.loads(self.record.read_text())
        except (OSError, json.JSONDecodeError):
            return None

    def is_trained(self, config_sha256: str) -> bool:
        """Done means the record names this exact config and the adapter files are really there."""
        record = self.completion()
        return bool(record) and record.get("config_sha256") == config_sha256 and self.adapter_complete()
