"""What the end-to-end tests share: the repo, the installed `haha` command, and the fast smoke flags."""

from __future__ import annotations

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
HAHA = str(Path(sys.executable).parent / "haha")
# Mechanics, not realism: the random tiny Llama trains 10 steps in seconds (5 before its checkpoint).
FAST_SMOKE = ("--smoke", "--smoke-model", "tiny", "--smoke-steps", "10")
