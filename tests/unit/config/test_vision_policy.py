"""The policy of the keys a vision config uses: the sample's keys pass, processor_kwargs only sizes pictures."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.config.loading import load_config
from pipeline.config.policy import SchemaKeys, check_policy, key_class
from pipeline.config.policy_table import KeyClass
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
