"""What the end-to-end tests share: the repo, the installed `haha` command, and the fast smoke flags."""

from __future__ import annotations

import shutil
import socket
import sys
from pathlib import Path

from tests.support.paths import REPO

HAHA = str(Path(sys.executable).parent / "haha")
# Mechanics, not realism: the random tiny Llama trains 10 steps in seconds (5 before its checkpoint).
FAST_SMOKE = ("--smoke", "--smoke-model", "tiny", "--smoke-steps", "10")


def refused_url() -> str:
    """A local endpoint nothing listens on, so every connection to it is refused: a tracker with no route."""
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def copy_repo(root: Path, *leave_out: str) -> Path:
    """This repo's settings, GPU environment and train/ (without its results, and without files matching
    `leave_out`) in `root`."""
    shutil.copy(REPO / "pyproject.toml", root)
    shutil.copy(REPO / "gpu-requirements.txt", root)
    shutil.copytree(REPO / "train", root / "train", ignore=shutil.ignore_patterns("results", *leave_out))
    (root / "train" / "results").mkdir()
    return root
