"""The repo's GitHub workflows, read as YAML data."""

from __future__ import annotations

from typing import Any

import yaml

from tests.support.paths import REPO

WORKFLOWS = REPO / ".github" / "workflows"


def load(name: str) -> dict[str, Any]:
    return yaml.safe_load((WORKFLOWS / name).read_text())
