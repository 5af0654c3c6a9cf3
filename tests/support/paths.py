"""Where the tests find the repo and the configs and data collected from the wild."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
WILD = REPO / "tests" / "wild"
