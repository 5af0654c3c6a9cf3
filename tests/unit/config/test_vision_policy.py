"""The policy of the keys a vision config uses: the sample's keys pass, processor_kwargs only sizes pictures."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.config.loading import load_config
from pipeline.config.policy import SchemaKeys, check_policy, key_class
from pipeline.config.policy_table import KeyClass
from pipeline.config.rules import vision_problems
from pipeline.config.schema import schema_keys
from pipeline.core.settings import load_settings
from tests.support.vision import VISION_CONFIG, write_vision_repo

VISION_KEYS = ("processor_type", "skip_prepare_dataset", "remove_unused_columns", "image_size",
               "image_resize_algorithm", "sample_packing", "chat_template")


@pytest.mark.parametrize("key", VISION_KEYS)
def test_the_vision_keys_only_tune_training(key: str) -> None:
    assert key_class(key) is KeyClass.VALUE


def policy_of(tmp_path: Path, extra: str) -> list[tuple[str, str]]:
    root = write_vision_repo(tmp_path / "repo")
    path = root / "train" / "config" / VISION_CONFIG
    path.write_text(path.read_text() + extra)
    config = load_config(path)
    return [(p.key, p.message) for p in check_policy(config, load_settings(root), VISION_CONFIG,
                                                      SchemaKeys(*schema_keys(config.data)))]


def test_the_sample_vision_config_passes_the_policy(tmp_path: Path) -> None:
    assert policy_of(tmp_path, "image_size: 224\nimage_resize_algorithm: bilinear\n") == []


def test_processor_kwargs_may_size_pictures_but_not_fetch(tmp_path: Path) -> None:
    found = policy_of(tmp_path, "processor_kwargs:\n  min_pixels: 3136\n  cache_dir: /etc\n  token: hf_x\n")
    assert [key for key, _ in found] == ["processor_kwargs.cache_dir", "processor_kwargs.token"]


def rules_of(tmp_path: Path, edit: tuple[str, str]) -> list[tuple[str, int | None, str]]:
    root = write_vision_repo(tmp_path / "repo")
    path = root / "train" / "config" / VISION_CONFIG
    text = path.read_text()
    assert edit[0] in text
    path.write_text(text.replace(*edit))
    config = load_config(path)
    return [(p.key, p.line, p.message) for p in vision_problems(config, VISION_CONFIG)]


def test_the_sample_sets_the_keys_axolotls_multimodal_training_needs(tmp_path: Path) -> None:
    assert rules_of(tmp_path, ("", "")) == []


def test_a_vision_config_without_them_is_refused_at_each_key_or_at_processor_type(tmp_path: Path) -> None:
    found = rules_of(tmp_path, ("skip_prepare_dataset: true\nremove_unused_columns: false\nsample_packing: false\n",
                                "remove_unused_columns: true\nsample_packing: true\n"))
    assert [key for key, _, _ in found] == ["skip_prepare_dataset", "remove_unused_columns", "sample_packing"]
    lines = (tmp_path / "repo" / "train" / "config" / VISION_CONFIG).read_text().splitlines()
    processor_line, remove_line = found[0][1], found[1][1]
    assert processor_line is not None and lines[processor_line - 1].startswith("processor_type:")
    assert remove_line is not None and lines[remove_line - 1] == "remove_unused_columns: true"
    assert "these 3 lines are needed for now" in found[1][2]
