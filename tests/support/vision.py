"""A throwaway haha repo holding the vision caption config, its drawn cartoons and their caption rows."""

from __future__ import annotations

import importlib.util
import shutil
import sys
from pathlib import Path
from types import ModuleType

from tests.support.paths import REPO
from tests.support.repos import HAHA_PYPROJECT, write_haha_repo

VISION_CONFIG = "cartoons-llava-1.5-7b-001.yml"


def draw_cartoons() -> ModuleType:
    """docs/draw_cartoons.py, the repo's own writer of the sample pictures and caption rows."""
    spec = importlib.util.spec_from_file_location("draw_cartoons", REPO / "docs" / "draw_cartoons.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is made
    spec.loader.exec_module(module)
    return module


def write_vision_repo(root: Path) -> Path:
    """`write_haha_repo` with the LLaVA chat template allowed, the caption config and its data, drawn afresh."""
    write_haha_repo(root)
    (root / "pyproject.toml").write_text(HAHA_PYPROJECT + 'chat_templates = ["chatml", "llava"]\n')
    shutil.copyfile(REPO / "train" / "config" / VISION_CONFIG, root / "train" / "config" / VISION_CONFIG)
    draw_cartoons().write_all(root / "train" / "data")
    return root
