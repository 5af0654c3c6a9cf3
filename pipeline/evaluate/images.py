"""The sweep's pictures: each image prompt's file checked by data/images.py (inside train/data, Pillow's
decompression-bomb limit as an error, format and size caps), hashed for the results file and the eval's
fingerprint, and decoded for the processor from the very bytes that were hashed.

Touches disk (reads the image files).
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from pipeline.core.problems import Problem
from pipeline.core.yaml_text import key_lines, line_of
from pipeline.data.images import ImageError, ImageRef, inspect_image
from pipeline.evaluate.model import EvalError
from pipeline.evaluate.spec import EvalSpec

if TYPE_CHECKING:
    from PIL.Image import Image


def image_problems(spec: EvalSpec, path: Path, display: str, data_dir: Path) -> list[Problem]:
    """A problem at its line for each image prompt whose picture cannot be used (`haha validate`)."""
    lines: dict[str, int] | None = None
    problems = []
    for index, image in enumerate(spec.images):
        if image is None:
            continue
        try:
            inspect_image(image, data_dir)
        except ImageError as exc:
            lines = lines if lines is not None else key_lines(path.read_text(encoding="utf-8"))
            key = f"prompts[{index}].image"
            problems.append(Problem(display, line_of(lines, key), key, str(exc)))
    return problems


def prompt_images(spec: EvalSpec, data_dir: Path) -> list[ImageRef | None]:
    """Each prompt's checked picture (None for a text prompt); EvalError naming the first that cannot be used."""
    found: list[ImageRef | None] = []
    for index, image in enumerate(spec.images):
        try:
            found.append(inspect_image(image, data_dir) if image is not None else None)
        except ImageError as exc:
            raise EvalError(f"prompts[{index}].image: {exc}") from None
    return found


def has_images(images: Sequence[ImageRef | None]) -> bool:
    return any(ref is not None for ref in images)


def decode_image(ref: ImageRef, data_dir: Path) -> Image:
    """The picture as RGB pixels, decoded from bytes whose sha256 is the one checked and recorded: a file changed
    after the check is refused, never fed to the model under the old hash."""
    from PIL import Image as PILImage

    data = (data_dir.resolve() / ref.relative).read_bytes()
    if hashlib.sha256(data).hexdigest() != ref.sha256:
        raise EvalError(f"'{ref.relative}' changed while the eval ran (its sha256 is not the one checked); run again")
    with PILImage.open(io.BytesIO(data)) as image:
        return image.convert("RGB")
