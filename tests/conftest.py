"""Fixtures shared across test modules."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.support.paths import REPO
from tests.support.repos import write_haha_repo

# Hermetic: nothing reaches the real Hub. Tests that need a Hub start the fake one on 127.0.0.1 and say so.
os.environ["HF_HUB_OFFLINE"] = "1"
# As CI runs (.ci/run): transformers then prints a line on stdout at import, which `--json` output must survive.
os.environ.setdefault("WANDB_MODE", "offline")


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The embedded tiny Llama (random weights, ChatML-aware tokenizer), built once per test session (~5 s)."""
    from pipeline.models.tiny import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("tiny-model"), REPO / "train" / "data")


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
