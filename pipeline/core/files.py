"""Writing files so that a reader, or a crash, never sees half of one."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path


def shown_path(path: Path, folder: Path) -> str:
    """`path` relative to `folder` when it lies inside it, so a message reads the same on every machine; else whole."""
    path, folder = path.resolve(), folder.resolve()
    return str(path.relative_to(folder)) if path.is_relative_to(folder) else str(path)


def write_atomic(path: Path, text: str) -> None:
    """Write via a temp file in the same folder and `os.replace`, so readers never see half a file.

    The same folder matters: `os.replace` is only atomic within one file system.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = tempfile.NamedTemporaryFile(  # noqa: SIM115 - closed below, kept on failure only to unlink
        "w", encoding="utf-8", dir=path.parent, prefix=f".{path.name}.", suffix=".tmp", delete=False
    )
    try:
        with handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(handle.name, 0o644)
        os.replace(handle.name, path)
    except BaseException:
        Path(handle.name).unlink(missing_ok=True)
        raise


def build_folder_once(folder: Path, marker: str, build: Callable[[Path], None]) -> Path:
    """`folder`, built by `build(staging)` in a sibling folder and renamed into place once `marker` is written.

    A build cut off halfway leaves no `marker`, so the next call starts again from scratch;
    a folder that has its marker is returned as it is.
    """
    if (folder / marker).is_file():
        return folder
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
    try:
        build(staging)
        if not (staging / marker).is_file():
            raise RuntimeError(f"building {folder} wrote no {marker}")
        staging.chmod(0o755)
        if folder.exists():
            shutil.rmtree(folder)
        staging.rename(folder)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return folder
