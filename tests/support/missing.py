"""A test whose outside tool is missing skips here, and fails in CI, which installs every tool (.ci/run sets
CI=true, as GitHub Actions does): a CI run must never pass by skipping."""

from __future__ import annotations

import os
from typing import NoReturn

import pytest


def missing(reason: str) -> NoReturn:
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason} (CI installs it: see .ci/run)")
    pytest.skip(reason)
