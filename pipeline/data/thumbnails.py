"""Thumbnails of the pictures eval prompts showed, embedded as PNG data URIs in index.html and the rating page.

The index is deployed alone (GitHub Pages), so each picture travels inside it, made small when the index is
written, from the file in train/data; a rater sees the picture a caption was written for the same way, larger.
A results file is not trusted: the path it records must pass data/images.py's checks (inside train/data, a picture
Pillow reads within the caps), and the file's sha256 must be the one the results recorded, else there is no
thumbnail and the page says why in a word. Reads files.
"""

from __future__ import annotations

import base64
import io
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from pipeline.data.images import ImageError, MissingImageError, read_image

THUMBNAIL_PX = 96  # the longer side, in the index
RATING_PX = 256  # the longer side on the rating page, where the picture is what the caption is judged against
PNG_DATA_URI = "data:image/png;base64,"


class NoThumbnail(StrEnum):
    """Why a prompt's picture is not shown, in the word the page prints."""

    MISSING = "missing"  # no such file under train/data (not committed, or renamed)
    REFUSED = "refused"  # the recorded path leaves train/data, is a URL, or names no picture Pillow may open
    CHANGED = "changed"  # the file's sha256 is not the one the completions were made from
    UNRECORDED = "unrecorded"  # the results recorded no sha256 to check the file against


@dataclass(frozen=True)
class Thumbnail:
    image: str  # the path as the results recorded it
    src: str | None  # a PNG data URI, or None with `refused` saying why
    refused: NoThumbnail | None = None
    why: str = ""  # the check's own words, for the page's tooltip


def thumbnail_key(image: str, sha256: str | None) -> str:
    """One thumbnail per picture and recorded hash, shared by every config that showed it."""
    return f"{image}@{sha256 or ''}"


def make_thumbnail(image: str, sha256: str | None, data_dir: Path, side: int = THUMBNAIL_PX) -> Thumbnail:
    """The picture a results file names, checked and shrunk to `side` pixels, or the reason there is none."""
    if not sha256:
        return Thumbnail(image, None, NoThumbnail.UNRECORDED, "the results recorded no sha256 for it")
    try:
        ref, data = read_image(image, data_dir)
    except MissingImageError as exc:
        return Thumbnail(image, None, NoThumbnail.MISSING, str(exc))
    except ImageError as exc:
        return Thumbnail(image, None, NoThumbnail.REFUSED, str(exc))
    if ref.sha256 != sha256:
        return Thumbnail(image, None, NoThumbnail.CHANGED,
                         f"'{image}' is not the picture the completions were made from (its sha256 differs)")
    return Thumbnail(image, PNG_DATA_URI + base64.b64encode(shrink(data, side)).decode("ascii"))


def shrink(data: bytes, side: int = THUMBNAIL_PX) -> bytes:
    """A checked picture as a small PNG: longer side `side` (never enlarged), 256 colours (a third smaller than RGB
    for the drawn cartoons, and nothing lost to the eye at this size)."""
    from PIL import Image

    with Image.open(io.BytesIO(data)) as image:
        small = image.convert("RGB")
        small.thumbnail((side, side))
        out = io.BytesIO()
        small.convert("P", palette=Image.Palette.ADAPTIVE, colors=256).save(out, format="PNG", optimize=True)
    return out.getvalue()
