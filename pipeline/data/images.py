"""Pictures a pull request hands the pipeline: caption rows' images and eval prompts' images.

An image is a file a pull request wrote, opened on the GPU runner by Pillow inside Axolotl and the eval. So before
anything loads one, haha checks it here: the path stays inside `train/data` (no URL, no absolute path, no `..`, no
link out), the file is a picture Pillow reads with its decompression-bomb limit raised to an error (a 20,000 x
20,000 PNG is a few kilobytes on disk and 1.6 GB decoded), in a format and at a size a vision processor takes. An
inline base64 image is allowed only under a small cap, so a row cannot smuggle a large file past these checks.

Touches disk (reads the image files, writes a run's copy of image rows); everything else here is pure.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import json
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from pipeline.config.effective import Override
from pipeline.config.rules import dataset_entries
from pipeline.core.errors import HahaError
from pipeline.core.files import write_atomic

# Formats every vision processor of transformers decodes through Pillow.
IMAGE_FORMATS = frozenset({"PNG", "JPEG", "WEBP", "GIF"})
MAX_IMAGE_BYTES = 10 * 1024 * 1024
MAX_IMAGE_SIDE = 4096  # processors resize to a few hundred pixels; a bigger side is a mistake or an attack
MAX_IMAGE_PIXELS = MAX_IMAGE_SIDE * MAX_IMAGE_SIDE  # Pillow's decompression-bomb limit, raised to an error here
MAX_INLINE_BASE64 = 64 * 1024  # characters of an inline `base64` image


class ImageError(HahaError):
    """An image a row or an eval prompt names cannot be used; the message says why in the user's terms."""


class MissingImageError(ImageError):
    """The path names no file under the data folder (not committed, or renamed): nothing refused, nothing there."""


@dataclass(frozen=True)
class ImageRef:
    """A checked image: where it is (relative to the data folder, as results record it) and what it is."""

    relative: str  # posix path under the data folder, e.g. "cartoons/03.png"
    sha256: str
    width: int
    height: int
    format: str


def image_path(text: str, data_dir: Path) -> Path:
    """The file `text` names, resolved under `data_dir`; ImageError for a URL, an absolute path, `..` or a link
    that leaves the folder. `text` is relative to `data_dir` (eval prompts) or starts with the folder's own path
    from the repo root (`train/data/...`, as Axolotl reads a row from the repo's working directory)."""
    if "://" in text or text.startswith(("data:", "//")):
        raise ImageError(f"'{text}' is a URL; images must be files under {_folder(data_dir)}/ (a URL is fetched on "
                         "the GPU runner, from wherever the pull request points)")
    posix = PurePosixPath(text.replace("\\", "/"))
    if posix.is_absolute() or ".." in posix.parts or not posix.parts:
        raise ImageError(f"'{text}' is not a relative path inside {_folder(data_dir)}/")
    root = data_dir.resolve()
    candidates = [root / posix]
    parts = posix.parts
    for depth in range(1, len(parts)):  # "train/data/cartoons/03.png" from the repo root
        if PurePosixPath(*parts[:depth]).as_posix() == _tail(data_dir, depth):
            candidates.insert(0, root / PurePosixPath(*parts[depth:]))
    for candidate in candidates:
        if candidate.exists() or candidate.is_symlink():
            resolved = candidate.resolve()
            if not resolved.is_relative_to(root):
                raise ImageError(f"'{text}' is a link that leads outside {_folder(data_dir)}/")
            return resolved
    raise MissingImageError(f"'{text}': no such file under {_folder(data_dir)}/")


def _folder(data_dir: Path) -> str:
    """The data folder as the user knows it: "train/data" in a repo, its last two parts anywhere."""
    return _tail(data_dir, 2)


def _tail(folder: Path, depth: int) -> str:
    """The last `depth` parts of `folder` as a posix path ("train/data" for depth 2)."""
    return PurePosixPath(*folder.resolve().parts[-depth:]).as_posix()


def check_image_bytes(data: bytes, shown: str) -> tuple[int, int, str]:
    """Width, height and format of an encoded image, or ImageError: not a picture, a format processors do not
    take, over the size caps, or a decompression bomb (Pillow's warning is an error here)."""
    from PIL import Image

    if len(data) > MAX_IMAGE_BYTES:
        raise ImageError(f"{shown}: {len(data):,} bytes, over the {MAX_IMAGE_BYTES:,}-byte cap")
    previous = Image.MAX_IMAGE_PIXELS
    Image.MAX_IMAGE_PIXELS = MAX_IMAGE_PIXELS
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as image:
                width, height, kind = image.width, image.height, str(image.format)
                if width > MAX_IMAGE_SIDE or height > MAX_IMAGE_SIDE:
                    raise ImageError(f"{shown}: {width} x {height} pixels, over the {MAX_IMAGE_SIDE}-pixel cap "
                                     "on a side")
                image.verify()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageError(f"{shown}: refused as a decompression bomb ({exc})") from None
    except ImageError:
        raise
    except Exception as exc:  # Pillow raises many types for a broken file; each means "not a picture"
        raise ImageError(f"{shown}: Pillow cannot read it as an image ({type(exc).__name__}: {exc})") from None
    finally:
        Image.MAX_IMAGE_PIXELS = previous
    if kind not in IMAGE_FORMATS:
        formats = ", ".join(sorted(IMAGE_FORMATS))
        raise ImageError(f"{shown}: {kind} is not one of the formats processors take ({formats})")
    return width, height, kind


def read_image(text: str, data_dir: Path) -> tuple[ImageRef, bytes]:
    """The checked image a row or a prompt names by path, with the sha256 results record, and the very bytes that
    were checked and hashed (a caller that shrinks or decodes them reads the file no second time)."""
    path = image_path(text, data_dir)
    if not path.is_file():
        raise ImageError(f"'{text}' is not a file")
    data = path.read_bytes()
    width, height, kind = check_image_bytes(data, f"'{text}'")
    relative = path.relative_to(data_dir.resolve()).as_posix()
    return ImageRef(relative, hashlib.sha256(data).hexdigest(), width, height, kind), data


def inspect_image(text: str, data_dir: Path) -> ImageRef:
    """The checked image a row or a prompt names by path, with the sha256 results record."""
    return read_image(text, data_dir)[0]


def inspect_inline(encoded: str, shown: str) -> tuple[int, int, str]:
    """An inline base64 image under the cap, checked like a file."""
    if len(encoded) > MAX_INLINE_BASE64:
        raise ImageError(f"{shown}: an inline base64 image of {len(encoded):,} characters, over the "
                         f"{MAX_INLINE_BASE64:,} cap; put the picture in a file under train/data instead")
    payload = encoded.split(",", 1)[1] if encoded.startswith("data:") else encoded
    try:
        data = base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError):
        raise ImageError(f"{shown}: not valid base64") from None
    return check_image_bytes(data, shown)


# Keys of a content part that carry its picture, as Axolotl's collator and transformers' chat templates read them.
SOURCE_KEYS = ("path", "image", "url", "base64")
# Where a row's messages are read besides the configured `field_messages`: Axolotl's collator reads `messages`, then
# ShareGPT `conversations` (`from`/`value`, whose `value` list it takes as the content); TRL's GRPO and preference
# trainers read `prompt` (and `chosen`, `rejected`, `completion`) through the processor's `apply_chat_template`, which
# loads every image part. Every one is checked and localized.
MESSAGE_LISTS = ("messages", "conversations", "prompt", "chosen", "rejected", "completion")
CONTENT_KEYS = ("content", "value")
# The part types a row may carry. transformers' `apply_chat_template` loads more than `image` parts: it rewrites an
# OpenAI `image_url` part into an image URL, and loads `video` and `audio` parts by path or URL, so any other type
# could fetch or read what these checks never saw.
PART_TYPES = ("text", "image")
# Columns whose pictures Axolotl puts into a bare `{"type": "image"}` part (it keeps only the first).
IMAGE_COLUMNS = ("images", "image")


@dataclass(frozen=True)
class RowImages:
    """A row's pictures: every image part (the template renders one image token for each) and what feeds them."""

    parts: int  # `{"type": "image", ...}` parts in the messages
    bare: int  # parts with no picture of their own, filled from the row's `images` column
    column: int  # pictures in the row's `images` (or `image`) column


def check_image_part(part: dict[str, object], data_dir: Path) -> tuple[str, str] | None:
    """(source key, why) when the part's picture is not a file under the data folder or an inline base64 under the
    cap; None when it is."""
    for key in SOURCE_KEYS:
        value = part.get(key)
        if value is None:
            continue
        try:
            if not isinstance(value, str):
                raise ImageError(f"expected a path inside {_folder(data_dir)}/, got {type(value).__name__}")
            if key == "base64" or value.startswith("data:"):
                inspect_inline(value, "the inline image")
            else:
                inspect_image(value, data_dir)
        except ImageError as exc:
            return key, str(exc)
    return None


def message_parts(row: dict[str, object], messages_key: str) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """(messages key, where, part) for every content part of every message list Axolotl's collator may read."""
    for key in dict.fromkeys((messages_key, *MESSAGE_LISTS)):
        messages = row.get(key)
        for m, message in enumerate(messages if isinstance(messages, list) else []):
            for content_key in CONTENT_KEYS:
                content = message.get(content_key) if isinstance(message, dict) else None
                for c, part in enumerate(content if isinstance(content, list) else []):
                    if isinstance(part, dict):
                        yield key, f"{key}[{m}].{content_key}[{c}]", part


def row_images(row: dict[str, object], messages_key: str, data_dir: Path) -> tuple[RowImages, list[tuple[str, str]]]:
    """The row's image parts and pictures, and (key, message) for every picture that fails its checks and every part
    of another type than text or image."""
    found: list[tuple[str, str]] = []
    parts = bare = 0
    for key, where, part in message_parts(row, messages_key):
        kind = part.get("type")
        if kind not in PART_TYPES:
            found.append((f"{where}.type", f"a {kind!r} part; rows hold text and image parts only (transformers "
                                           "fetches an image_url part's URL and loads video and audio parts by path "
                                           "or URL, unchecked)"))
            continue
        if kind != "image":
            continue
        counted = key == messages_key
        parts += counted
        if not any(part.get(source) is not None for source in SOURCE_KEYS):
            bare += counted
            continue
        if (bad := check_image_part(part, data_dir)) is not None:
            found.append((f"{where}.{bad[0]}", bad[1]))
    column_key = next((key for key in IMAGE_COLUMNS if row.get(key) is not None), None)
    pictures = row.get(column_key) if column_key else []
    if not isinstance(pictures, list):
        found.append((str(column_key), "must be a list of paths (Axolotl takes the first item: of a string, its "
                                       "first character)"))
        pictures = []
    for index, picture in enumerate(pictures):
        if (bad := check_image_part({"path": picture}, data_dir)) is not None:
            found.append((f"{column_key}[{index}]", bad[1]))
    return RowImages(parts, bare, len(pictures)), found


def count_problem(images: RowImages) -> str | None:
    """Why the pictures a row hands the processor do not match the image tokens its template renders, if they do not.

    Axolotl's collator (axolotl/processing_strategies.py) keeps only the first picture of an `images` column, puts it
    into the first bare `{"type": "image"}` part (or appends a part when there is none), and leaves any other bare
    part empty: the template renders an image token for it with no picture behind it.
    """
    if images.column > 1:
        return (f"{images.column} pictures in the images column: Axolotl keeps only the first (\"Found "
                f"{images.column} images in a sample. Using the first one.\"); give each picture its own image part "
                "in the messages")
    if images.bare > images.column:
        return (f"{images.bare} image parts with no picture of their own for {images.column} picture(s) in the images "
                "column: the template renders an image token for each part, and the processor gets fewer pictures "
                "than tokens")
    return None


def localized_row(row: dict[str, object], data_dir: Path, messages_key: str = "messages") -> int:
    """Point every picture of a row at its checked absolute path (in place); returns how many it points.

    Axolotl opens a row's path with transformers' `load_image`, relative to whatever directory the training process
    runs in; the absolute path of the checked file leaves nothing to that, nor to the row.
    """
    count = 0
    for _, _, part in message_parts(row, messages_key):
        if part.get("type") == "image":
            for key in ("path", "image", "url"):
                if isinstance(part.get(key), str) and not str(part[key]).startswith("data:"):
                    part[key] = str(image_path(str(part[key]), data_dir))
                    count += 1
    for key in IMAGE_COLUMNS:
        pictures = row.get(key)
        if isinstance(pictures, list):
            row[key] = [str(image_path(p, data_dir)) if isinstance(p, str) and not p.startswith("data:") else p
                        for p in pictures]
            count += len(pictures)
    return count


def localize_images(config: dict[str, Any], data_dir: Path, out_dir: Path) -> list[Override]:
    """Each local JSONL dataset whose rows name pictures, copied into `out_dir` with every picture at its checked
    absolute path, and the dataset entry pointed at the copy: the overrides that say so."""
    overrides: list[Override] = []
    for dataset in dataset_entries(config):
        source = Path(str(dataset.path)) if dataset.path else None
        if source is None or source.suffix != ".jsonl" or not source.is_file():
            continue
        rows = [json.loads(line) for line in source.read_text(encoding="utf-8").splitlines() if line.strip()]
        messages_key = str(dataset.entry.get("field_messages") or "messages")
        if sum(localized_row(row, data_dir, messages_key) for row in rows if isinstance(row, dict)) == 0:
            continue
        copy = out_dir / "image-rows" / source.name
        write_atomic(copy, "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows))
        dataset.entry["path"] = str(copy)
        overrides.append(Override(f"{dataset.where}.path", str(source), str(copy),
                                  f"images: each row's picture at its checked path under {_folder(data_dir)}/"))
    return overrides
