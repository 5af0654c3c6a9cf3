"""The Hugging Face Hub through `huggingface_hub.HfApi` (endpoint from `HF_ENDPOINT`, token from `HF_TOKEN`,
the token read by the client; this module never touches it).

One commit per push, its message carrying the config and adapter hashes; transient failures are
retried with backoff, refused credentials fail at once with `HubAuthError`.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import httpx
from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError, RepositoryNotFoundError

from pipeline.core.naming import is_commit_id
from pipeline.core.retry import Backoff
from pipeline.publish.hub import (
    MODEL_FILES,
    PUBLISHED_FILES,
    HubAuthError,
    PublishError,
    PublishResult,
    Push,
    PushKey,
    stage_files,
)

if TYPE_CHECKING:
    from huggingface_hub import HfApi

log = logging.getLogger(__name__)
DEFAULT_ENDPOINT = "https://huggingface.co"
AUTH_STATUSES = (401, 403)
# Transient Hub failures (connection errors, HTTP 5xx, 429) are retried: 2 s, 4 s, 8 s.
HUB_BACKOFF = Backoff(tries=4, first=2.0)
T = TypeVar("T")


@dataclass(frozen=True)
class HfHub:
    """The Hugging Face Hub (or a mirror at `endpoint`); the client reads HF_TOKEN itself."""

    endpoint: str
    retry: Backoff = HUB_BACKOFF

    @classmethod
    def from_environment(cls) -> HfHub:
        # Read per call, not at import as huggingface_hub does, so a test or wrapper can point it elsewhere.
        return cls((os.environ.get("HF_ENDPOINT") or DEFAULT_ENDPOINT).rstrip("/"))

    def __str__(self) -> str:
        return "hf"

    def push(self, push: Push, files: list[Path], key: PushKey) -> PublishResult:
        repo_id, api = push.repo_id, self._api()
        self._retrying(f"creating {repo_id}", repo_id,
                       lambda: api.create_repo(repo_id, exist_ok=True, private=push.private))
        message = f"haha: {push.name} {key.text()}"
        # Forced: only a commit made after this point counts as done, so the current head is remembered.
        stale_head = self._retrying(f"reading {repo_id}", repo_id, lambda: _head(api, repo_id)) if push.force else None
        with tempfile.TemporaryDirectory(prefix="haha-publish-") as staging:
            stage_files(files, push.card, Path(staging))
            revision, skipped = self._retrying(
                f"pushing to {repo_id}", repo_id,
                lambda: _commit_unless_pushed(api, repo_id, Path(staging), message, key, stale_head),
            )
        return PublishResult(repo_id=repo_id, revision=revision, url=f"{self.endpoint}/{repo_id}",
                             adapter_sha256=key.adapter_sha256, skipped=skipped)

    def fetch(self, repo_id: str, revision: str, dest: Path) -> None:
        """`revision` must be a full commit id in `repo_id`'s history: a branch name, or a commit of another repo,
        is refused before anything is downloaded."""
        from huggingface_hub import snapshot_download  # heavy: loaded only when the real Hub is used

        if not is_commit_id(revision):
            raise PublishError(f"{repo_id}: {revision!r} is not a full commit id; only a commit names one adapter")
        try:
            commits = {commit.commit_id for commit in self._api().list_repo_commits(repo_id)}
        except (HfHubHTTPError, OSError) as exc:
            raise PublishError(f"cannot list the commits of {repo_id} on {self.endpoint}: {exc}") from None
        if revision not in commits:
            raise PublishError(f"{repo_id} on {self.endpoint} has no commit {revision[:12]}: its results name an "
                               "adapter that repo never held")
        try:
            snapshot_download(repo_id, revision=revision, endpoint=self.endpoint, local_dir=dest,
                              allow_patterns=list(MODEL_FILES))
        except (HfHubHTTPError, LocalEntryNotFoundError, OSError) as exc:
            raise PublishError(f"cannot download {repo_id} at {revision[:12]} from {self.endpoint}: {exc}") from None
        shutil.rmtree(dest / ".cache", ignore_errors=True)

    def latest_revision(self, repo_id: str) -> str | None:
        api = self._api()
        return self._retrying(f"reading {repo_id}", repo_id, lambda: _head(api, repo_id))

    def _api(self) -> HfApi:
        from huggingface_hub import HfApi  # heavy (half a second): loaded only when the real Hub is used

        return HfApi(endpoint=self.endpoint)

    def _retrying(self, action: str, repo_id: str, call: Callable[[], T]) -> T:
        """Run `call`, retrying transient failures with exponential backoff; auth and other errors end it at once."""
        attempt = 1
        while True:
            try:
                return call()
            except (HfHubHTTPError, httpx.TransportError) as err:
                status = err.response.status_code if isinstance(err, HfHubHTTPError) else None
                if status in AUTH_STATUSES:
                    raise HubAuthError(
                        f"{action}: the Hub refused the credentials (HTTP {status}); check HF_TOKEN has write access "
                        f"to {repo_id.split('/')[0]}"
                    ) from err
                if status is not None and status != 429 and status < 500:
                    raise PublishError(f"{action}: {err}") from err
                if attempt >= self.retry.tries:
                    raise PublishError(
                        f"{action}: gave up after {self.retry.tries} tries: {type(err).__name__}: {err}"
                    ) from err
                delay = self.retry.delay(attempt)
                reason = f"HTTP {status}" if status else type(err).__name__
                log.warning("%s: %s; retrying in %.2fs (try %d of %d)", action, reason, delay, attempt,
                            self.retry.tries)
                time.sleep(delay)
                attempt += 1


def _head(api: HfApi, repo_id: str) -> str | None:
    """The latest commit on main; None for a repo the Hub does not show us (never created, or not ours to see)."""
    try:
        commits = api.list_repo_commits(repo_id)
    except RepositoryNotFoundError:
        return None
    return commits[0].commit_id if commits else None


def _commit_unless_pushed(
    api: HfApi, repo_id: str, staging: Path, message: str, key: PushKey, stale_head: str | None
) -> tuple[str, bool]:
    """One commit, unless main's latest commit already carries this push's hashes (and is not `stale_head`).

    Checked again on every retry: a commit whose response was lost must not be made twice.
    """
    commits = api.list_repo_commits(repo_id)
    latest = commits[0] if commits else None
    if latest and latest.commit_id != stale_head and key.text() in f"{latest.title}\n{latest.message}":
        return latest.commit_id, True
    info = api.upload_folder(
        repo_id=repo_id, folder_path=staging, commit_message=message, delete_patterns=list(PUBLISHED_FILES)
    )
    return info.oid, False
