"""Fetching a published adapter back from the hub at the revision a results file recorded.

A config that starts from a parent (`haha_parent`) trains on what the parent published, not on
whatever its run folder holds: the GPU runner that trains the child may never have seen the
parent's run, and the recorded revision is what the parent's results describe.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from pipeline.core.naming import is_commit_id
from pipeline.core.runs import ADAPTER_FILES, adapter_problem
from pipeline.publish.hub import TOKENIZER_FILES, PublishError
from pipeline.publish.local import latest_revision, pushed_revisions, repo_folder
from pipeline.publish.target import HfHub, HubTarget, LocalHub

FETCHED_FILES = (*ADAPTER_FILES, *TOKENIZER_FILES)


def fetch_adapter(hub: HubTarget, repo_id: str, revision: str, dest: Path) -> Path:
    """The adapter (and tokenizer files) of `repo_id` at `revision`, downloaded into a fresh `dest`, once the hub
    has confirmed that `revision` is a commit of `repo_id` (a results file's word is not enough)."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{dest.name}.fetch-", dir=dest.parent))
    try:
        if isinstance(hub, LocalHub):
            _copy_local(repo_folder(hub.root, repo_id), repo_id, revision, staging)
        else:
            _confirm_hf_commit(hub, repo_id, revision)
            _download_hf(hub, repo_id, revision, staging)
        if (problem := adapter_problem(staging)) is not None:
            raise PublishError(f"{repo_id} at {revision[:12]}: {problem.split(' has ', 1)[1]}")
        shutil.rmtree(dest, ignore_errors=True)
        staging.rename(dest)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return dest


def _copy_local(repo: Path, repo_id: str, revision: str, staging: Path) -> None:
    """A local hub keeps only the latest push, so an older revision is gone: say so rather than use another. A
    revision its push record never named was never pushed there."""
    latest = latest_revision(repo)
    if latest is None:
        raise PublishError(f"{repo_id} is not on the hub at {repo.parent.parent}")
    if revision not in pushed_revisions(repo):
        raise PublishError(f"{repo_id} was never pushed at {revision[:12]}: the hub's push record does not name it")
    if latest != revision:
        raise PublishError(f"{repo_id} on the hub is at {latest[:12]}, not the {revision[:12]} its results "
                           "recorded: run that config again to publish and evaluate one adapter")
    for name in FETCHED_FILES:
        if (repo / name).is_file():
            shutil.copy2(repo / name, staging / name)


def _confirm_hf_commit(hub: HfHub, repo_id: str, revision: str) -> None:
    """`revision` is a full commit id in `repo_id`'s history on the Hub: a branch name, or a commit of another
    repo, is refused before anything is downloaded."""
    from huggingface_hub import HfApi
    from huggingface_hub.errors import HfHubHTTPError

    if not is_commit_id(revision):
        raise PublishError(f"{repo_id}: {revision!r} is not a full commit id; only a commit names one adapter")
    try:
        commits = {commit.commit_id for commit in HfApi(endpoint=hub.endpoint).list_repo_commits(repo_id)}
    except (HfHubHTTPError, OSError) as exc:
        raise PublishError(f"cannot list the commits of {repo_id} on {hub.endpoint}: {exc}") from None
    if revision not in commits:
        raise PublishError(f"{repo_id} on {hub.endpoint} has no commit {revision[:12]}: its results name an "
                           "adapter that repo never held")


def _download_hf(hub: HfHub, repo_id: str, revision: str, staging: Path) -> None:
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError

    try:
        snapshot_download(repo_id, revision=revision, endpoint=hub.endpoint, local_dir=staging,
                          allow_patterns=list(FETCHED_FILES))
    except (HfHubHTTPError, LocalEntryNotFoundError, OSError) as exc:
        raise PublishError(f"cannot download {repo_id} at {revision[:12]} from {hub.endpoint}: {exc}") from None
    shutil.rmtree(staging / ".cache", ignore_errors=True)
