"""Fetching a published adapter back from the hub at the revision a results file recorded.

A config that starts from a parent (`haha_parent`) trains on what the parent published, not on
whatever its run folder holds: the GPU runner that trains the child may never have seen the
parent's run, and the recorded revision is what the parent's results describe.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from pipeline.core.runs import adapter_problem
from pipeline.publish.hub import Hub, PublishError


def fetch_adapter(hub: Hub, repo_id: str, revision: str, dest: Path) -> Path:
    """The adapter (and tokenizer files) of `repo_id` at `revision`, downloaded into a fresh `dest`, once the hub
    has confirmed that `revision` is a commit of `repo_id` (a results file's word is not enough). `dest` is
    replaced only by a whole adapter: a failed fetch leaves it as it was."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{dest.name}.fetch-", dir=dest.parent))
    try:
        hub.fetch(repo_id, revision, staging)
        if (problem := adapter_problem(staging)) is not None:
            raise PublishError(f"{repo_id} at {revision[:12]}: {problem.split(' has ', 1)[1]}")
        shutil.rmtree(dest, ignore_errors=True)
        staging.rename(dest)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return dest
