"""data/images.py: every picture a row or prompt names is checked before anything opens it for training."""

from __future__ import annotations

import base64
import io
from pathlib import Path

import pytest
from PIL import Image

from pipeline.data.images import (
    MAX_INLINE_BASE64,
    ImageError,
    RowImages,
    count_problem,
    image_path,
    inspect_image,
    inspect_inline,
    localized_row,
    row_images,
)


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "train" / "data"
    (folder / "pics").mkdir(parents=True)
    Image.new("RGB", (32, 24), "red").save(folder / "pics" / "red.png")
    return folder


def png_bytes(size: tuple[int, int] = (8, 8), mode: str = "RGB") -> bytes:
    out = io.BytesIO()
    Image.new(mode, size).save(out, format="PNG")
    return out.getvalue()


def test_a_path_from_the_repo_root_and_one_from_the_data_folder_name_the_same_file(data_dir: Path) -> None:
    assert image_path("train/data/pics/red.png", data_dir) == image_path("pics/red.png", data_dir)
    ref = inspect_image("train/data/pics/red.png", data_dir)
    assert (ref.relative, ref.width, ref.height, ref.format) == ("pics/red.png", 32, 24, "PNG")


@pytest.mark.parametrize(("text", "message"), [
    ("https://example.com/cat.png", "'https://example.com/cat.png' is a URL; images must be files under train/data/"),
    ("../../etc/passwd", "'../../etc/passwd' is not a relative path inside train/data/"),
    ("/etc/passwd", "'/etc/passwd' is not a relative path inside train/data/"),
    ("pics/missing.png", "'pics/missing.png': no such file under train/data/"),
])
def test_paths_that_leave_the_data_folder_are_refused(data_dir: Path, text: str, message: str) -> None:
    with pytest.raises(ImageError, match="^" + message.replace("(", r"\(").replace(".", r"\.")):
        image_path(text, data_dir)


def test_a_link_out_of_the_data_folder_is_refused(data_dir: Path, tmp_path: Path) -> None:
    (tmp_path / "secret.png").write_bytes(png_bytes())
    (data_dir / "pics" / "link.png").symlink_to(tmp_path / "secret.png")
    with pytest.raises(ImageError, match="leads outside train/data/"):
        image_path("pics/link.png", data_dir)


def test_a_decompression_bomb_is_refused_before_it_is_decoded(data_dir: Path) -> None:
    Image.new("1", (20000, 20000)).save(data_dir / "pics" / "bomb.png")
    assert (data_dir / "pics" / "bomb.png").stat().st_size < 100_000
    with pytest.raises(ImageError, match="refused as a decompression bomb"):
        inspect_image("pics/bomb.png", data_dir)


def test_text_is_not_a_picture(data_dir: Path) -> None:
    (data_dir / "pics" / "note.png").write_text("not a picture")
    with pytest.raises(ImageError, match="Pillow cannot read it as an image"):
        inspect_image("pics/note.png", data_dir)


def test_inline_base64_is_checked_like_a_file_and_capped() -> None:
    assert inspect_inline(base64.b64encode(png_bytes((4, 3))).decode(), "x") == (4, 3, "PNG")
    with pytest.raises(ImageError, match=f"over the {MAX_INLINE_BASE64:,} cap"):
        inspect_inline("A" * (MAX_INLINE_BASE64 + 4), "x")
    with pytest.raises(ImageError, match="not valid base64"):
        inspect_inline("not base64!", "x")


def message_row(*parts: dict[str, str], **columns: list[str]) -> dict[str, object]:
    return {"messages": [{"role": "user", "content": [*parts, {"type": "text", "text": "Caption?"}]},
                         {"role": "assistant", "content": [{"type": "text", "text": "Ha."}]}], **columns}


def test_a_row_reports_each_bad_picture_at_its_key(data_dir: Path) -> None:
    row = message_row({"type": "image", "path": "train/data/pics/red.png"},
                      {"type": "image", "url": "http://example.com/a.png"})
    images, found = row_images(row, "messages", data_dir)
    assert images == RowImages(parts=2, bare=0, column=0)
    assert [key for key, _ in found] == ["messages[0].content[1].url"]


@pytest.mark.parametrize(("images", "problem"), [
    (RowImages(parts=1, bare=0, column=0), None),
    (RowImages(parts=1, bare=1, column=1), None),
    (RowImages(parts=0, bare=0, column=1), None),  # Axolotl adds the part itself
    (RowImages(parts=1, bare=1, column=2), "2 pictures in the images column: Axolotl keeps only the first"),
    (RowImages(parts=2, bare=2, column=1), "2 image parts with no picture of their own for 1 picture(s)"),
])
def test_pictures_must_match_the_image_tokens(images: RowImages, problem: str | None) -> None:
    found = count_problem(images)
    assert (found is None) if problem is None else (found is not None and found.startswith(problem))


def test_localized_rows_point_at_the_checked_file_whatever_the_working_directory(data_dir: Path) -> None:
    row = message_row({"type": "image", "path": "train/data/pics/red.png"}, images=["pics/red.png"])
    assert localized_row(row, data_dir) == 2
    expected = str((data_dir / "pics" / "red.png").resolve())
    assert row["messages"][0]["content"][0]["path"] == expected  # type: ignore[index]
    assert row["images"] == [expected]
    with pytest.raises(ImageError, match="is a URL"):
        localized_row(message_row({"type": "image", "path": "https://example.com/a.png"}), data_dir)


@pytest.mark.parametrize(("part", "key"), [
    ({"type": "image_url", "image_url": {"url": "https://example.com/a.png"}}, "messages[0].content[0].type"),
    ({"type": "video", "url": "https://example.com/a.mp4"}, "messages[0].content[0].type"),
    ({"type": "audio", "path": "/etc/passwd"}, "messages[0].content[0].type"),
])
def test_parts_transformers_would_load_unchecked_are_refused(data_dir: Path, part: dict[str, object],
                                                             key: str) -> None:
    """transformers turns an `image_url` part into an image URL and loads video and audio parts by path or URL."""
    _, found = row_images(message_row(part), "messages", data_dir)  # type: ignore[arg-type]
    assert [where for where, _ in found] == [key]


def test_sharegpt_conversations_are_checked_and_localized_like_messages(data_dir: Path) -> None:
    """Axolotl's collator converts `from`/`value` conversations, taking each `value` list as the content."""
    row: dict[str, object] = {"conversations": [
        {"from": "human", "value": [{"type": "image", "url": "https://example.com/a.png"}]},
        {"from": "gpt", "value": [{"type": "image", "path": "pics/red.png"}]}]}
    _, found = row_images(row, "conversations", data_dir)
    assert [where for where, _ in found] == ["conversations[0].value[0].url"]
    row["conversations"][0]["value"] = []  # type: ignore[index]
    assert localized_row(row, data_dir) == 1
    assert row["conversations"][1]["value"][0]["path"] == str((data_dir / "pics" / "red.png").resolve())  # type: ignore[index]


def test_a_custom_messages_field_is_localized_and_the_default_ones_still_checked(data_dir: Path) -> None:
    row: dict[str, object] = {"chats": message_row({"type": "image", "path": "pics/red.png"})["messages"],
                              **message_row({"type": "image", "url": "https://example.com/a.png"})}
    images, found = row_images(row, "chats", data_dir)
    assert images.parts == 1 and [where for where, _ in found] == ["messages[0].content[0].url"]
    del row["messages"]
    assert localized_row(row, data_dir, "chats") == 1
    assert row["chats"][0]["content"][0]["path"] == str((data_dir / "pics" / "red.png").resolve())  # type: ignore[index]


def test_an_images_column_must_be_a_list(data_dir: Path) -> None:
    _, found = row_images(message_row({"type": "image"}, images="pics/red.png"), "messages", data_dir)  # type: ignore[arg-type]
    assert [where for where, _ in found] == ["images"]


def test_a_grpo_prompts_pictures_are_checked_and_localized(data_dir: Path) -> None:
    """TRL's GRPO trainer hands `prompt` to the processor's apply_chat_template, which loads each image part."""
    row: dict[str, object] = {"prompt": [{"role": "user", "content": [
        {"type": "image", "url": "https://example.com/a.png"}, {"type": "image", "path": "pics/red.png"}]}]}
    _, found = row_images(row, "messages", data_dir)
    assert [where for where, _ in found] == ["prompt[0].content[0].url"]
    row["prompt"][0]["content"].pop(0)  # type: ignore[index]
    assert localized_row(row, data_dir) == 1
