"""Pictures a pull request hands the pipeline: caption rows' images and eval prompts' images.

An image is a file a pull request wrote, opened on the GPU runner by Pillow inside Axolotl and the eval. So before
anything loads one, haha checks it here: the path stays inside `train/data` (no URL, no absolute path, no `..`, no
link out), the file is a picture Pillow reads with its decompression-bomb limit raised to an error (a 20,000 x
20,000 PNG is a few kilobytes on disk and 1.6 GB decoded), in a format and at a size a vision processor takes. An
inline base64 image is allowed only under a small cap, so a row cannot smuggle a large file past these checks.

Touches disk (reads the image files); everything else here is pure.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import warnings
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from pipeline.core.errors import HahaError

# Formats every vision processor of transformers decodes through Pillow.
IMAGE_FORMATS = frozenset({"PNG", "JPEG", "WEBP", "GIF"})
MAX_IMAGE_BYTES = 10 * 1024 * 1024
MAX_IMAGE_SIDE = 4096  # processors resize to a few hundred pixels; a bigger side is a mistake or an attack
MAX_IMAGE_PIXELS = MAX_IMAGE_SIDE * MAX_IMAGE_SIDE  # Pillow's decompression-bomb limit, raised to an error here
MAX_INLINE_BASE64 = 64 * 1024  # characters of an inline `base64` image


class ImageError(HahaError):
    """An image a row or an eval prompt names cannot be used; the message says why in the user's terms."""


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
                raise ImageError(f"'{text}' leads outside {_folder(data_dir)}/ (a link to {resolved})")
            return resolved
    raise ImageError(f"'{text}': no such file under {_folder(data_dir)}/")


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


def inspect_image(text: str, data_dir: Path) -> ImageRef:
    """The checked image a row or a prompt names by path, with the sha256 results record."""
    path = image_path(text, data_dir)
    if not path.is_file():
        raise ImageError(f"'{text}' is not a file")
    data = path.read_bytes()
    width, height, kind = check_image_bytes(data, f"'{text}'")
    relative = path.relative_to(data_dir.resolve()).as_posix()
    return ImageRef(relative, hashlib.sha256(data).hexdigest(), width, height, kind)


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
