"""haha validate on the vision caption config: the sample validates clean, hostile rows fail at file:line and key."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from pipeline.core.problems import Problem, errors
from pipeline.core.settings import load_settings
from pipeline.data.images import MAX_INLINE_BASE64
from pipeline.orchestration.validation import validate
from tests.support.vision import VISION_CONFIG, draw_cartoons, write_vision_repo

ROWS = "train/data/cartoon-captions.jsonl"


@pytest.fixture
def vision_repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return write_vision_repo(tmp_path / "repo")


def vision_errors(root: Path) -> list[Problem]:
    settings = load_settings(root)
    return errors(validate([str(settings.config_dir / VISION_CONFIG)], settings).problems)


def caption_row(part: dict[str, str], **columns: object) -> dict[str, object]:
    row = draw_cartoons().caption_row("unused", "Ha.")
    row["messages"][0]["content"][0] = part
    return {**row, **columns}


def test_the_sample_caption_config_validates_clean(vision_repo: Path) -> None:
    assert vision_errors(vision_repo) == []


def test_hostile_pictures_fail_at_their_row_and_key(vision_repo: Path) -> None:
    Image.new("1", (20000, 20000)).save(vision_repo / "train" / "data" / "cartoons" / "bomb.png")
    hostile = [
        caption_row({"type": "image", "path": "../../pyproject.toml"}),
        caption_row({"type": "image", "path": "https://example.com/cat.png"}),
        caption_row({"type": "image", "path": "train/data/cartoons/bomb.png"}),
        caption_row({"type": "image"}, images=["train/data/cartoons/01-cat.png", "train/data/cartoons/02-dog.png"]),
        caption_row({"type": "image", "base64": "A" * (MAX_INLINE_BASE64 + 4)}),
    ]
    rows = vision_repo / ROWS
    first = len(rows.read_text().splitlines()) + 1
    with rows.open("a") as handle:
        handle.writelines(json.dumps(row) + "\n" for row in hostile)
    found = [(p.file, p.line, p.key, p.message) for p in vision_errors(vision_repo)]
    part = "messages[0].content[0]"
    assert [(file, line, key) for file, line, key, _ in found] == [
        (ROWS, first, f"{part}.path"), (ROWS, first + 1, f"{part}.path"), (ROWS, first + 2, f"{part}.path"),
        (ROWS, first + 3, "messages"), (ROWS, first + 4, f"{part}.base64")]
    messages = [message for *_, message in found]
    assert messages[0] == "'../../pyproject.toml' is not a relative path inside train/data/"
    assert messages[1].startswith("'https://example.com/cat.png' is a URL; images must be files under train/data/")
    assert messages[2].startswith("'train/data/cartoons/bomb.png': refused as a decompression bomb")
    assert messages[3].startswith("2 pictures in the images column: Axolotl keeps only the first")
    assert f"over the {MAX_INLINE_BASE64:,} cap" in messages[4]


def test_drawing_the_cartoons_again_writes_the_same_bytes(tmp_path: Path) -> None:
    from tests.support.paths import REPO

    written = draw_cartoons().write_all(tmp_path)
    assert len(written) == 25
    for path in written:
        committed = REPO / "train" / "data" / path.relative_to(tmp_path)
        assert path.read_bytes() == committed.read_bytes(), committed
