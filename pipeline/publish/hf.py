"""The Hugging Face Hub through `huggingface_hub.HfApi` (endpoint from `HF_ENDPOINT`, token from `HF_TOKEN`,
both read by the client; this module never touches the token).

One commit per push, its message carrying the config and adapter hashes; transient failures are
retried with backoff, refused credentials fail at once with `HubAuthError`.
"""

from __future__ import annotations

import logging
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import httpx
from huggingface_hub import HfApi
from huggingface_hub.errors import HfHubHTTPError

from pipeline.core.retry import Backoff
from pipeline.publish.hub import PUBLISHED_FILES, HubAuthError, PublishError, PublishResult, PushKey, stage_files

log = logging.getLogger(__name__)
AUTH_STATUSES = (401, 403)
T = TypeVar("T")


def push_hf(
    endpoint: str, repo_id: str, files: list[Path], card: str, push: PushKey, private: bool, retry: Backoff,
    force: bool,
) -> PublishResult:
    api = HfApi(endpoint=endpoint)
    url = f"{endpoint}/{repo_id}"
    _with_retry(retry, f"creating {repo_id}", repo_id, lambda: api.create_repo(repo_id, exist_ok=True, private=private))
    message = f"haha: {repo_id.split('/')[1]} {push.text()}"
    # Forced: only a commit made after this point counts as done, so the current head is remembered.
    stale_head = _with_retry(retry, f"reading {repo_id}", repo_id, lambda: _head(api, repo_id)) if force else None
    with tempfile.TemporaryDirectory(prefix="haha-publish-") as staging:
        stage_files(files, card, Path(staging))
        revision, skipped = _with_retry(
            retry, f"pushing to {repo_id}", repo_id,
            lambda: _commit_unless_pushed(api, repo_id, Path(staging), message, push, stale_head),
        )
    return PublishResult(repo_id=repo_id, revision=revision, url=url, adapter_sha256=push.adapter_sha256,
                         skipped=skipped)


def _head(api: HfApi, repo_id: str) -> str | None:
    commits = api.list_repo_commits(repo_id)
    return commits[0].commit_id if commits else None


def _commit_unless_pushed(
    api: HfApi, repo_id: str, staging: Path, message: str, push: PushKey, stale_head: str | None
) -> tuple[str, bool]:
    """One commit, unless main's latest commit already carries this push's hashes (and is not `stale_head`).

    Checked again on every retry: a commit whose response was lost must not be made twice.
    """
    commits = api.list_repo_commits(repo_id)
    latest = commits[0] if commits else None
    if latest and latest.commit_id != stale_head and push.text() in f"{latest.title}\n{latest.message}":
        return latest.commit_id, True
    info = api.upload_folder(
        repo_id=repo_id, folder_path=staging, commit_message=message, delete_patterns=list(PUBLISHED_FILES)
    )
    return info.oid, False


def _with_retry(retry: Backoff, action: str, repo_id: str, call: Callable[[], T]) -> T:
    """Run `call`, retrying transient failures with exponential backoff; auth and other errors end it at once."""
    attempt = 1
    while True:
        try:
            return call()
        except (HfHubHTTPError, httpx.TransportError) as err:
            status = err.response.status_code if isinstance(err, HfHubHTTPError) else None
            if status in AUTH_STATUSES:
                raise HubAuthError(
                    f"{action}: the Hub refused the credentials (HTTP {status}); check HF_TOKEN has write access to "
                    f"{repo_id.split('/')[0]}"
                ) from err
            if status is not None and status != 429 and status < 500:
                raise PublishError(f"{action}: {err}") from err
            if attempt >= retry.tries:
                raise PublishError(f"{action}: gave up after {retry.tries} tries: {type(err).__name__}: {err}") from err
            delay = retry.delay(attempt)
            reason = f"HTTP {status}" if status else type(err).__name__
            log.warning("%s: %s; retrying in %.2fs (try %d of %d)", action, reason, delay, attempt, retry.tries)
            time.sleep(delay)
            attempt += 1
